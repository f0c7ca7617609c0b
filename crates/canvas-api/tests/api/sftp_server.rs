//! An SSH server on loopback (russh) whose SFTP subsystem serves a
//! temporary folder, with one user who logs in by password or by key. Keys
//! are made by OpenSSH's `ssh-keygen`.

use russh::keys::PublicKey;
use russh::server::{Auth, Msg, Server as _, Session};
use russh::{Channel, ChannelId};
use russh_sftp::protocol::{
    Attrs, Data, File, FileAttributes, Handle, Name, OpenFlags, Status, StatusCode, Version,
};
use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub const USER_KEY_PASSPHRASE: &str = "key-pass";

pub struct SftpServer {
    pub port: u16,
    /// The host key's fingerprint, `SHA256:...`.
    pub host_key: String,
    /// The user's private key (OpenSSH format, encrypted with
    /// [`USER_KEY_PASSPHRASE`]), authorized on the server.
    pub user_key: String,
    root: tempfile::TempDir,
}

impl SftpServer {
    pub fn files(&self) -> PathBuf {
        self.root.path().join("files")
    }
}

/// A new ed25519 key pair at `path` (and `path.pub`); its fingerprint.
fn keygen(path: &Path, passphrase: &str) -> String {
    let made = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", passphrase, "-C", "test", "-f"])
        .arg(path)
        .status()
        .unwrap();
    assert!(made.success());
    let listed = std::process::Command::new("ssh-keygen")
        .arg("-lf")
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8(listed.stdout)
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string()
}

#[derive(Clone)]
struct Users {
    password: String,
    key: PublicKey,
    root: PathBuf,
}

pub async fn start(password: &str) -> SftpServer {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("files")).unwrap();
    std::fs::create_dir_all(root.path().join("files").join(HOME.trim_start_matches('/'))).unwrap();
    let host_key = keygen(&root.path().join("host"), "");
    keygen(&root.path().join("user"), USER_KEY_PASSPHRASE);
    let config = russh::server::Config {
        keys: vec![russh::keys::load_secret_key(root.path().join("host"), None).unwrap()],
        auth_rejection_time: std::time::Duration::from_millis(10),
        auth_rejection_time_initial: Some(std::time::Duration::ZERO),
        ..Default::default()
    };
    let mut users = Users {
        password: password.into(),
        key: russh::keys::load_public_key(root.path().join("user.pub")).unwrap(),
        root: root.path().join("files"),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let _ = users.run_on_socket(Arc::new(config), &listener).await;
    });
    SftpServer {
        port,
        host_key,
        user_key: std::fs::read_to_string(root.path().join("user")).unwrap(),
        root,
    }
}

impl russh::server::Server for Users {
    type Handler = Connection;
    fn new_client(&mut self, _: Option<std::net::SocketAddr>) -> Connection {
        Connection {
            users: self.clone(),
            channels: HashMap::new(),
        }
    }
}

struct Connection {
    users: Users,
    channels: HashMap<ChannelId, Channel<Msg>>,
}

fn reject() -> Auth {
    Auth::Reject {
        proceed_with_methods: None,
        partial_success: false,
    }
}

impl russh::server::Handler for Connection {
    type Error = russh::Error;

    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, Self::Error> {
        Ok(if user == "partner" && password == self.users.password {
            Auth::Accept
        } else {
            reject()
        })
    }

    async fn auth_publickey(
        &mut self,
        user: &str,
        key: russh::server::VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        Ok(
            if user == "partner" && key.public_key.key_data() == self.users.key.key_data() {
                Auth::Accept
            } else {
                reject()
            },
        )
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: russh::server::ChannelOpenHandle,
        _: &mut Session,
    ) -> Result<(), Self::Error> {
        self.channels.insert(channel.id(), channel);
        reply.accept().await;
        Ok(())
    }

    async fn subsystem_request(
        &mut self,
        id: ChannelId,
        name: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        match self.channels.remove(&id).filter(|_| name == "sftp") {
            Some(channel) => {
                session.channel_success(id)?;
                let files = Files {
                    root: self.users.root.clone(),
                    open: Arc::default(),
                    next: 0,
                };
                tokio::spawn(russh_sftp::server::run(channel.into_stream(), files));
            }
            None => session.channel_failure(id)?,
        }
        Ok(())
    }
}

enum Open {
    File(std::fs::File),
    /// A file whose name starts with `stall`: reading it never answers.
    Stall,
    Dir(Option<Vec<File>>),
}

/// The login folder.
pub const HOME: &str = "/home/partner";

/// SFTP over a folder: `/a/b` is `<root>/a/b`; a relative path is under
/// the login folder `/home/partner`, as on a real server.
struct Files {
    root: PathBuf,
    open: Arc<Mutex<HashMap<String, Open>>>,
    next: u64,
}

fn ok(id: u32) -> Status {
    Status {
        id,
        status_code: StatusCode::Ok,
        error_message: "Ok".into(),
        language_tag: "en-US".into(),
    }
}

fn io(e: std::io::Error) -> StatusCode {
    match e.kind() {
        std::io::ErrorKind::NotFound => StatusCode::NoSuchFile,
        std::io::ErrorKind::PermissionDenied => StatusCode::PermissionDenied,
        _ => StatusCode::Failure,
    }
}

impl Files {
    fn path(&self, path: &str) -> Result<PathBuf, StatusCode> {
        let home;
        let path = match path.starts_with('/') {
            true => path,
            false => {
                home = format!("{HOME}/{path}");
                home.as_str()
            }
        };
        let relative = path.trim_start_matches('/');
        if relative.split('/').any(|p| p == "..") {
            return Err(StatusCode::PermissionDenied);
        }
        Ok(self.root.join(relative))
    }

    fn handle(&mut self, open: Open) -> String {
        self.next += 1;
        let handle = self.next.to_string();
        self.open.lock().unwrap().insert(handle.clone(), open);
        handle
    }
}

impl russh_sftp::server::Handler for Files {
    type Error = StatusCode;

    fn unimplemented(&self) -> StatusCode {
        StatusCode::OpUnsupported
    }

    async fn init(&mut self, _: u32, _: HashMap<String, String>) -> Result<Version, StatusCode> {
        Ok(Version::new())
    }

    async fn realpath(&mut self, id: u32, path: String) -> Result<Name, StatusCode> {
        let path = if path.starts_with('/') {
            path
        } else {
            format!("{HOME}/{path}")
        };
        Ok(Name {
            id,
            files: vec![File::dummy(path.trim_end_matches("/.").to_string())],
        })
    }

    async fn open(
        &mut self,
        id: u32,
        name: String,
        flags: OpenFlags,
        _: FileAttributes,
    ) -> Result<Handle, StatusCode> {
        let options: std::fs::OpenOptions = flags.into();
        let file = options.open(self.path(&name)?).map_err(io)?;
        let stalls = name
            .rsplit('/')
            .next()
            .is_some_and(|n| n.starts_with("stall"));
        let open = if stalls {
            Open::Stall
        } else {
            Open::File(file)
        };
        Ok(Handle {
            id,
            handle: self.handle(open),
        })
    }

    async fn read(
        &mut self,
        id: u32,
        handle: String,
        offset: u64,
        len: u32,
    ) -> Result<Data, StatusCode> {
        let stalls = matches!(self.open.lock().unwrap().get(&handle), Some(Open::Stall));
        if stalls {
            std::future::pending::<()>().await;
        }
        let mut open = self.open.lock().unwrap();
        let Some(Open::File(file)) = open.get_mut(&handle) else {
            return Err(StatusCode::Failure);
        };
        file.seek(SeekFrom::Start(offset)).map_err(io)?;
        let mut data = vec![0; len as usize];
        let n = file.read(&mut data).map_err(io)?;
        if n == 0 {
            return Err(StatusCode::Eof);
        }
        data.truncate(n);
        Ok(Data { id, data })
    }

    async fn write(
        &mut self,
        id: u32,
        handle: String,
        offset: u64,
        data: Vec<u8>,
    ) -> Result<Status, StatusCode> {
        let mut open = self.open.lock().unwrap();
        let Some(Open::File(file)) = open.get_mut(&handle) else {
            return Err(StatusCode::Failure);
        };
        file.seek(SeekFrom::Start(offset)).map_err(io)?;
        file.write_all(&data).map_err(io)?;
        Ok(ok(id))
    }

    async fn close(&mut self, id: u32, handle: String) -> Result<Status, StatusCode> {
        self.open.lock().unwrap().remove(&handle);
        Ok(ok(id))
    }

    async fn stat(&mut self, id: u32, path: String) -> Result<Attrs, StatusCode> {
        let meta = std::fs::metadata(self.path(&path)?).map_err(io)?;
        Ok(Attrs {
            id,
            attrs: FileAttributes::from(&meta),
        })
    }

    async fn lstat(&mut self, id: u32, path: String) -> Result<Attrs, StatusCode> {
        self.stat(id, path).await
    }

    async fn opendir(&mut self, id: u32, path: String) -> Result<Handle, StatusCode> {
        let mut entries = Vec::new();
        for entry in std::fs::read_dir(self.path(&path)?).map_err(io)? {
            let entry = entry.map_err(io)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let attrs = FileAttributes::from(&entry.metadata().map_err(io)?);
            entries.push(File {
                filename: name.clone(),
                longname: name,
                attrs,
            });
        }
        Ok(Handle {
            id,
            handle: self.handle(Open::Dir(Some(entries))),
        })
    }

    async fn readdir(&mut self, id: u32, handle: String) -> Result<Name, StatusCode> {
        let mut open = self.open.lock().unwrap();
        let Some(Open::Dir(entries)) = open.get_mut(&handle) else {
            return Err(StatusCode::Failure);
        };
        let files = entries.take().ok_or(StatusCode::Eof)?;
        Ok(Name { id, files })
    }

    async fn remove(&mut self, id: u32, name: String) -> Result<Status, StatusCode> {
        std::fs::remove_file(self.path(&name)?).map_err(io)?;
        Ok(ok(id))
    }

    async fn mkdir(
        &mut self,
        id: u32,
        path: String,
        _: FileAttributes,
    ) -> Result<Status, StatusCode> {
        std::fs::create_dir(self.path(&path)?).map_err(io)?;
        Ok(ok(id))
    }

    /// As SFTP version 3 says: no renaming onto an existing file.
    async fn rename(&mut self, id: u32, from: String, to: String) -> Result<Status, StatusCode> {
        let (from, to) = (self.path(&from)?, self.path(&to)?);
        if to.exists() {
            return Err(StatusCode::Failure);
        }
        std::fs::rename(from, to).map_err(io)?;
        Ok(ok(id))
    }
}
