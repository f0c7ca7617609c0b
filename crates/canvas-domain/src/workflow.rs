//! Workflows made from templates: chain overrides and run ranges.

use crate::catalog::{BlockDef, ChainBlock};
use serde_json::{Map, Value};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkflowStatus {
    Ready,
    Running,
    Failed,
}

impl WorkflowStatus {
    pub fn name(self) -> &'static str {
        match self {
            Self::Ready => "Ready",
            Self::Running => "Running",
            Self::Failed => "Failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Ready, Self::Running, Self::Failed]
            .into_iter()
            .find(|v| v.name() == s)
    }
}

/// A `chain` item of `POST Workflow`: new values for a template block's variables.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainOverride {
    pub unique_block_id: Uuid,
    pub variables: Map<String, Value>,
}

/// The template's chain with the overrides merged in. Overrides may name only
/// the template's blocks and those blocks' variables, and values must fit the
/// variable's declared kind where the block is a catalog block.
pub fn apply_overrides<'a>(
    chain: &[ChainBlock],
    overrides: &[ChainOverride],
    block_def: impl Fn(&ChainBlock) -> Option<&'a BlockDef>,
) -> Result<Vec<ChainBlock>, String> {
    let mut merged = chain.to_vec();
    for (i, o) in overrides.iter().enumerate() {
        if overrides[..i]
            .iter()
            .any(|p| p.unique_block_id == o.unique_block_id)
        {
            return Err(format!(
                "chain[{i}].uniqueBlockId: block {} is given twice",
                o.unique_block_id
            ));
        }
        let block = merged
            .iter_mut()
            .find(|b| b.unique_block_id == o.unique_block_id)
            .ok_or_else(|| {
                format!(
                    "chain[{i}].uniqueBlockId: the template has no block {}",
                    o.unique_block_id
                )
            })?;
        let def = block_def(block);
        for (name, value) in &o.variables {
            if !block.variables.contains_key(name) {
                return Err(format!(
                    "chain[{i}].variables.{name}: block '{}' has no variable '{name}' (it has: {})",
                    block.block_name,
                    block
                        .variables
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            let var = def.and_then(|d| d.variables.iter().find(|v| &v.name == name));
            if let Some(var) = var.filter(|v| !v.kind.accepts(value)) {
                return Err(format!(
                    "chain[{i}].variables.{name}: must be {}",
                    var.kind.name()
                ));
            }
            block.variables.insert(name.clone(), value.clone());
        }
    }
    Ok(merged)
}

/// The inclusive, 1-based range of blocks one run executes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunRange {
    pub from: i64,
    pub till: i64,
}

impl RunRange {
    pub fn new(from: Option<i64>, till: Option<i64>, blocks: usize) -> Result<Self, String> {
        let n = blocks as i64;
        if n == 0 {
            return Err("workflowId: the workflow has no blocks to run".into());
        }
        let check = |name: &str, v: i64| {
            if (1..=n).contains(&v) {
                Ok(v)
            } else {
                Err(format!(
                    "{name}: must be between 1 and {n} (the workflow has {n} blocks), got {v}"
                ))
            }
        };
        let from = check("runFromBlock", from.unwrap_or(1))?;
        let till = check("runTillBlock", till.unwrap_or(n))?;
        if from > till {
            return Err(format!(
                "runFromBlock: block {from} comes after runTillBlock {till}"
            ));
        }
        Ok(Self { from, till })
    }
}

/// A workflow's chain after its template committed `new`: the new structure,
/// with the workflow's own value kept for every variable both versions have.
pub fn rebase_chain(new: &[ChainBlock], old: &[ChainBlock]) -> Vec<ChainBlock> {
    new.iter()
        .map(|block| {
            let mut block = block.clone();
            if let Some(prev) = old
                .iter()
                .find(|b| b.unique_block_id == block.unique_block_id)
            {
                for (name, value) in block.variables.iter_mut() {
                    if let Some(v) = prev.variables.get(name) {
                        *value = v.clone();
                    }
                }
            }
            block
        })
        .collect()
}

/// The block feeding block `number` (1-based): its `datasource`, or the block before it.
pub fn data_source(chain: &[ChainBlock], number: i64) -> Option<Uuid> {
    let block = chain.get((number - 1) as usize)?;
    block
        .datasource
        .or_else(|| (number > 1).then(|| chain[(number - 2) as usize].unique_block_id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn chain() -> Vec<ChainBlock> {
        serde_json::from_value(json!([
            {"uniqueBlockId": "02d1424a-da90-4c12-9c28-96162e624bd7", "blockName": "A", "variables": {"apiKeys": [], "badgeNo": null}}
        ]))
        .unwrap()
    }

    fn over(vars: Value) -> ChainOverride {
        ChainOverride {
            unique_block_id: "02d1424a-da90-4c12-9c28-96162e624bd7".parse().unwrap(),
            variables: vars.as_object().unwrap().clone(),
        }
    }

    #[test]
    fn overrides_merge_known_variables_and_refuse_unknown_ones() {
        let merged =
            apply_overrides(&chain(), &[over(json!({"apiKeys": ["k"]}))], |_| None).unwrap();
        assert_eq!(merged[0].variables["apiKeys"], json!(["k"]));
        assert_eq!(merged[0].variables["badgeNo"], Value::Null);
        let err = apply_overrides(&chain(), &[over(json!({"nope": 1}))], |_| None).unwrap_err();
        assert!(err.starts_with("chain[0].variables.nope"), "{err}");
        let mut stranger = over(json!({}));
        stranger.unique_block_id = Uuid::nil();
        assert!(
            apply_overrides(&chain(), &[stranger], |_| None)
                .unwrap_err()
                .contains("has no block")
        );
    }

    #[test]
    fn run_ranges_are_inclusive_and_bounded() {
        assert_eq!(
            RunRange::new(None, None, 3),
            Ok(RunRange { from: 1, till: 3 })
        );
        assert_eq!(
            RunRange::new(Some(2), Some(2), 3),
            Ok(RunRange { from: 2, till: 2 })
        );
        assert!(RunRange::new(Some(0), None, 3).is_err());
        assert!(RunRange::new(None, Some(4), 3).is_err());
        assert!(RunRange::new(Some(3), Some(2), 3).is_err());
    }

    #[test]
    fn a_block_feeds_from_its_datasource_or_else_the_block_before_it() {
        let chain: Vec<ChainBlock> = serde_json::from_value(serde_json::json!([
            {"uniqueBlockId": "00000000-0000-0000-0000-000000000001", "blockName": "A"},
            {"uniqueBlockId": "00000000-0000-0000-0000-000000000002", "blockName": "B"},
            {"uniqueBlockId": "00000000-0000-0000-0000-000000000003", "blockName": "C",
             "datasource": "00000000-0000-0000-0000-000000000001"}
        ]))
        .unwrap();
        assert_eq!(data_source(&chain, 1), None);
        assert_eq!(data_source(&chain, 2), Some(chain[0].unique_block_id));
        assert_eq!(data_source(&chain, 3), Some(chain[0].unique_block_id));
    }
}
