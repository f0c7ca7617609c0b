//! Failure notifications: a failed run emails its account's
//! `defaultNotificationEmail` when the account's `globalNotifications` is on.

use crate::execute::RunExecution;

impl RunExecution<'_> {
    pub(crate) async fn notify_failure(&self, error: &str) {
        let (run, store) = (&self.run, &self.engine.store);
        let Ok(workflow) = store.workflow(run.workflow_id).await else {
            return;
        };
        let Ok(account) = store.account(workflow.account_id).await else {
            return;
        };
        let Some(to) = account
            .default_notification_email
            .filter(|_| account.global_notifications)
        else {
            return;
        };
        let subject = format!("Canvas: workflow \"{}\" failed", workflow.name);
        let body = format!(
            "The run {} of the workflow \"{}\" ({}) failed:\n\n{error}\n\nRun history: GET /api/WorkflowRun?id={}\n",
            run.id, workflow.name, workflow.id, run.id
        );
        match &self.engine.mailer {
            Some(mailer) => {
                if let Err(e) = mailer.send_text(&to, &subject, body).await {
                    tracing::error!(run = %run.id, error = %e, "the failure notification could not be sent");
                }
            }
            None => {
                tracing::info!(run = %run.id, workflow = %workflow.id, %to, %error, "no SMTP server configured; a failure notification would go to the account")
            }
        }
    }
}
