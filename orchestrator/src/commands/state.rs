//! Inputs of the planner: the desired hashes computed from files and
//! the observed state of the engine and of the build-step stamps.

use crate::build_step;
use crate::context::{BuildContext, ContextError};
use crate::engine::{observe, Engine};
use crate::plan::{self, DesiredState, Observed, Plan};
use crate::run_record;
use crate::spec::{ContainerKind, Stack};

/// Desired state plus the images whose build context is missing.
pub struct Desired {
    pub state: DesiredState,
    /// Keys of images whose context directory or Dockerfile does not exist.
    pub missing_contexts: Vec<(String, ContextError)>,
}

/// Hashes every build context and build-step input set.
pub fn desired(stack: &Stack) -> anyhow::Result<Desired> {
    let mut state = DesiredState::default();
    let mut missing_contexts = Vec::new();
    for (key, image) in &stack.images {
        match BuildContext::collect(image) {
            Ok(context) => {
                state
                    .image_context_hashes
                    .insert(key.clone(), context.content_hash()?);
            }
            Err(
                error @ (ContextError::MissingContext { .. }
                | ContextError::MissingDockerfile { .. }),
            ) => {
                state.images_without_context.insert(key.clone());
                missing_contexts.push((key.clone(), error));
            }
            Err(error) => return Err(error.into()),
        }
    }
    for step in &stack.build_steps {
        state
            .build_step_inputs_hashes
            .insert(step.name.clone(), build_step::inputs_hash(step)?);
    }
    Ok(Desired {
        state,
        missing_contexts,
    })
}

/// Observes the engine, the build-step stamps and the one-shot run records.
pub async fn observed(engine: &Engine, stack: &Stack) -> anyhow::Result<Observed> {
    let mut observed = observe::observe(engine, stack).await?;
    for step in &stack.build_steps {
        observed
            .build_steps
            .insert(step.name.clone(), build_step::observe(stack, step));
    }
    for spec in &stack.containers {
        if let ContainerKind::OneShot { .. } = spec.kind {
            if let Some(run) = run_record::read(stack, &spec.name) {
                observed.one_shot_runs.insert(spec.name.clone(), run);
            }
        }
    }
    Ok(observed)
}

/// Computes the plan from scratch: desired state, observation, comparison.
pub async fn plan(engine: &Engine, stack: &Stack) -> anyhow::Result<(Plan, Desired, Observed)> {
    let desired = desired(stack)?;
    let observed = observed(engine, stack).await?;
    let plan = plan::compute(stack, &desired.state, &observed);
    Ok((plan, desired, observed))
}
