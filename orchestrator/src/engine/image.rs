//! Images: inspect, build from a tar context with the classic builder, remove.

use std::collections::{BTreeMap, HashMap};

use bollard::errors::Error as DockerError;
use bollard::models::ImageInspect;
use bollard::query_parameters::{
    BuildImageOptionsBuilder, ListImagesOptionsBuilder, RemoveImageOptionsBuilder,
};
use futures_util::StreamExt;

use super::{absent_as_none, Engine, EngineError, Outcome};

const KIND: &str = "image";

/// Number of output lines of the failing Dockerfile step kept in a build error.
const FAILED_STEP_OUTPUT_LINES: usize = 20;

#[derive(Debug, thiserror::Error)]
#[error("failed to build image `{tag}` at Dockerfile step `{step}`: {message}{}", format_output(.output))]
pub struct BuildError {
    pub tag: String,
    /// The `Step N/M : INSTRUCTION` line the classic builder printed last.
    pub step: String,
    /// Output of that step, at most [`FAILED_STEP_OUTPUT_LINES`] lines.
    pub output: Vec<String>,
    pub message: String,
}

fn format_output(output: &[String]) -> String {
    if output.is_empty() {
        return String::new();
    }
    let mut text = String::from("\nstep output:");
    for line in output {
        text.push_str("\n  ");
        text.push_str(line);
    }
    text
}

/// Everything the engine needs to build one image.
#[derive(Debug, Clone)]
pub struct BuildRequest {
    pub tag: String,
    /// Dockerfile path inside the context tar.
    pub dockerfile: String,
    pub build_args: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    /// Uncompressed tar of the build context.
    pub context_tar: Vec<u8>,
}

/// Inspects the image `reference` (tag or ID); `None` when it does not exist.
pub async fn inspect(
    engine: &Engine,
    reference: &str,
) -> Result<Option<ImageInspect>, EngineError> {
    absent_as_none(engine.docker.inspect_image(reference).await)
        .map_err(EngineError::api("inspect", KIND, reference))
}

/// Lists the tags of the images that carry `label` (`key=value`).
pub async fn list_labelled(engine: &Engine, label: &str) -> Result<Vec<String>, EngineError> {
    let filters = HashMap::from([("label".to_string(), vec![label.to_string()])]);
    let options = ListImagesOptionsBuilder::default()
        .filters(&filters)
        .build();
    let images = engine
        .docker
        .list_images(Some(options))
        .await
        .map_err(EngineError::api("list", KIND, label))?;
    Ok(images
        .into_iter()
        .flat_map(|image| image.repo_tags)
        .collect())
}

/// Builds an image with the classic builder and returns its ID.
///
/// Every item of the build stream is read, because the engine reports a
/// failed step mid-stream after an HTTP 200. `on_line` receives each line
/// of build output.
pub async fn build(
    engine: &Engine,
    request: BuildRequest,
    mut on_line: impl FnMut(&str),
) -> Result<String, BuildFailure> {
    let build_args: HashMap<String, String> = request.build_args.clone().into_iter().collect();
    let labels: HashMap<String, String> = request.labels.clone().into_iter().collect();
    let options = BuildImageOptionsBuilder::default()
        .dockerfile(&request.dockerfile)
        .t(&request.tag)
        .rm(true)
        .forcerm(true)
        .buildargs(&build_args)
        .labels(&labels)
        .build();
    let body = bollard::body_full(request.context_tar.into());
    let mut stream = engine.docker.build_image(options, None, Some(body));

    let mut step = String::from("(before the first step)");
    let mut output: Vec<String> = Vec::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(info) => {
                let Some(text) = info.stream else { continue };
                for line in text.lines().map(str::trim_end).filter(|l| !l.is_empty()) {
                    on_line(line);
                    if line.starts_with("Step ") {
                        step = line.to_string();
                        output.clear();
                    } else {
                        output.push(line.to_string());
                    }
                }
            }
            Err(DockerError::DockerStreamError { error }) => {
                let skip = output.len().saturating_sub(FAILED_STEP_OUTPUT_LINES);
                return Err(BuildFailure::Step(BuildError {
                    tag: request.tag,
                    step,
                    output: output.split_off(skip),
                    message: error.trim().to_string(),
                }));
            }
            Err(source) => {
                return Err(BuildFailure::Engine(EngineError::Api {
                    operation: "build",
                    kind: KIND,
                    name: request.tag,
                    source,
                }))
            }
        }
    }

    match inspect(engine, &request.tag)
        .await
        .map_err(BuildFailure::Engine)?
    {
        Some(ImageInspect { id: Some(id), .. }) => Ok(id),
        _ => Err(BuildFailure::Step(BuildError {
            tag: request.tag,
            step,
            output,
            message: "the build finished but the image does not exist".into(),
        })),
    }
}

/// Why [`build`] failed: a Dockerfile step, or the engine call itself.
#[derive(Debug, thiserror::Error)]
pub enum BuildFailure {
    #[error(transparent)]
    Step(BuildError),
    #[error(transparent)]
    Engine(EngineError),
}

/// Removes the image tag `tag`; absence counts as done.
pub async fn remove(engine: &Engine, tag: &str) -> Result<Outcome, EngineError> {
    let options = RemoveImageOptionsBuilder::default().build();
    match absent_as_none(engine.docker.remove_image(tag, Some(options), None).await) {
        Ok(Some(_)) => Ok(Outcome::Removed),
        Ok(None) => Ok(Outcome::Absent),
        Err(source) => Err(EngineError::Api {
            operation: "remove",
            kind: KIND,
            name: tag.into(),
            source,
        }),
    }
}
