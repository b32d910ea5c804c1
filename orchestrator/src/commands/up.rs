//! `up`: converge the engine to the stack file.
//!
//! The plan is computed first and executed in its order: build steps, then
//! (after planning again, because a build step may change the build
//! contexts) images, volumes, networks and containers in dependency order.
//! The first failure stops `up`, so a failed one-shot job leaves every
//! container after it as it was.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use futures_util::StreamExt;

use super::{load_stack, state, Failure, Global};
use crate::build_step;
use crate::context::BuildContext;
use crate::engine::image::BuildRequest;
use crate::engine::{container, image, network, volume, Engine, Outcome};
use crate::labels;
use crate::plan::{self, Action, Observed, Plan, ResourceKind, Step};
use crate::progress::{format_duration, Progress};
use crate::run_record;
use crate::spec::{ContainerKind, ContainerSpec, Stack};

/// Log lines of a failed container kept in the error.
const LOG_TAIL_LINES: usize = 20;
/// Grace period between SIGTERM and SIGKILL when a container is replaced.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// Interval between two inspections while waiting for health.
const HEALTH_POLL: Duration = Duration::from_millis(100);

#[derive(Debug, Clone, clap::Args)]
pub struct UpArgs {
    /// Skip build steps and image builds and use the images the engine
    /// already has; fails if one is missing.
    #[arg(long)]
    pub no_build: bool,
}

/// Changes `up` made, for the summary line.
#[derive(Debug, Default)]
struct Changes {
    phrases: Vec<String>,
}

impl Changes {
    fn add(&mut self, phrase: String) {
        self.phrases.push(phrase);
    }
}

struct Run<'a> {
    engine: Engine,
    stack: &'a Stack,
    progress: &'a Progress,
    no_build: bool,
    changes: RefCell<Changes>,
    /// IDs of images replaced by a rebuild, removed at the end if unused.
    replaced_image_ids: RefCell<Vec<String>>,
}

pub async fn run(global: &Global, args: &UpArgs) -> anyhow::Result<()> {
    let stack = load_stack(&global.file)?;
    let started = Instant::now();
    let engine = Engine::connect().await?;
    let mut run = Run {
        engine,
        stack: &stack,
        progress: &global.progress,
        no_build: args.no_build,
        changes: RefCell::default(),
        replaced_image_ids: RefCell::default(),
    };

    let (mut plan, mut desired, mut observed) = state::plan(&run.engine, &stack).await?;
    if args.no_build {
        assume_built(&stack, &mut desired.state, &mut observed);
        plan = plan::compute(&stack, &desired.state, &observed);
    }
    if !plan.conflicts.is_empty() {
        return Err(Failure::Conflicts(plan.conflicts).into());
    }
    if !args.no_build && run.run_build_steps(&plan, &desired.state).await? {
        (plan, desired, observed) = state::plan(&run.engine, &stack).await?;
    }
    let missing_contexts: BTreeMap<String, String> = desired
        .missing_contexts
        .iter()
        .map(|(key, error)| (key.clone(), error.to_string()))
        .collect();

    for (key, error) in &desired.missing_contexts {
        let tag = &stack.images[key].tag;
        if observed.images.contains_key(tag) {
            run.progress.info(&format!(
                "image {tag}: {error}; using the image the engine has"
            ));
        }
    }

    // Image builds run concurrently: each is mostly the engine creating and
    // committing one intermediate container per Dockerfile instruction.
    let builds = plan
        .changes()
        .filter(|step| step.kind == ResourceKind::Image)
        .map(|step| {
            let key = step.key.as_deref().unwrap_or("");
            let hash = desired.state.image_context_hashes.get(key);
            run.apply_image(step, &observed, hash, &missing_contexts)
        });
    futures_util::future::try_join_all(builds).await?;

    for step in plan.changes() {
        match step.kind {
            ResourceKind::BuildStep | ResourceKind::Image => {}
            ResourceKind::Volume => run.apply_volume(step).await?,
            ResourceKind::Network => run.apply_network(step).await?,
            ResourceKind::Container => run.apply_container(step).await?,
        }
    }
    run.remove_replaced_images().await;

    print_result(&run, &plan, started.elapsed());
    Ok(())
}

/// Makes the planner treat every build step as done and every existing
/// image as current, so that `--no-build` replaces a container only when
/// the image it runs differs from the one the engine has under its tag.
pub(crate) fn assume_built(
    stack: &Stack,
    desired: &mut plan::DesiredState,
    observed: &mut Observed,
) {
    for step in &stack.build_steps {
        let hash = desired.build_step_inputs_hashes.get(&step.name).cloned();
        let stamp = observed.build_steps.entry(step.name.clone()).or_default();
        stamp.recorded_inputs_hash = hash;
        stamp.missing_outputs.clear();
    }
    for (key, image) in &stack.images {
        let recorded = observed
            .images
            .get(&image.tag)
            .and_then(|found| found.labels.get(labels::IMAGE_CONTEXT_HASH));
        match recorded {
            Some(hash) => {
                desired
                    .image_context_hashes
                    .insert(key.clone(), hash.clone());
            }
            None => {
                desired.images_without_context.insert(key.clone());
            }
        }
    }
}

impl Run<'_> {
    /// Runs the build steps the plan marks; returns whether any ran.
    async fn run_build_steps(
        &mut self,
        plan: &Plan,
        desired: &plan::DesiredState,
    ) -> anyhow::Result<bool> {
        let mut ran = false;
        for step in plan.changes().filter(|s| s.kind == ResourceKind::BuildStep) {
            let Some(spec) = self
                .stack
                .build_steps
                .iter()
                .find(|b| Some(&b.name) == step.key.as_ref())
            else {
                continue;
            };
            let hash = match desired.build_step_inputs_hashes.get(&spec.name) {
                Some(hash) => hash.clone(),
                None => build_step::inputs_hash(spec)?,
            };
            let task = self.progress.task(
                format!("build step {}", spec.name),
                &step.reason.to_string(),
            );
            let result = build_step::run(self.stack, spec, &hash, |line| task.message(line)).await;
            match result {
                Ok(()) => task.finish("done"),
                Err(error) => {
                    task.fail("failed");
                    return Err(error.into());
                }
            }
            self.changes
                .borrow_mut()
                .add(format!("ran build step {}", spec.name));
            ran = true;
        }
        Ok(ran)
    }

    async fn apply_image(
        &self,
        step: &Step,
        observed: &Observed,
        context_hash: Option<&String>,
        missing_contexts: &BTreeMap<String, String>,
    ) -> anyhow::Result<()> {
        let task = self
            .progress
            .task(format!("image {}", step.name), &step.reason.to_string());
        let existing = observed.images.get(&step.name);
        let Some(key) = step
            .key
            .as_deref()
            .filter(|_| step.action != Action::Remove)
        else {
            let outcome = image::remove(&self.engine, &step.name).await?;
            task.finish(&outcome.to_string());
            self.changes
                .borrow_mut()
                .add(format!("removed image {}", step.name));
            return Ok(());
        };

        if self.no_build {
            if existing.is_some() {
                task.finish("kept: --no-build uses the image the engine has");
                return Ok(());
            }
            task.fail("missing");
            let reason =
                "--no-build skips image builds; run `up` without it or import the image".into();
            return Err(Failure::ImageMissing {
                tag: step.name.clone(),
                reason,
            }
            .into());
        }
        if let Some(error) = missing_contexts.get(key) {
            if existing.is_some() {
                task.finish(&format!("kept: {error}; using the image the engine has"));
                return Ok(());
            }
            task.fail("missing");
            let reason = format!("cannot be built: {error}");
            return Err(Failure::ImageMissing {
                tag: step.name.clone(),
                reason,
            }
            .into());
        }

        let spec = &self.stack.images[key];
        let context = BuildContext::collect(spec)?;
        let hash = match context_hash {
            Some(hash) => hash.clone(),
            None => context.content_hash()?,
        };
        let labels = BTreeMap::from([
            (labels::PROJECT.to_string(), self.stack.project.clone()),
            (labels::RESOURCE.to_string(), key.to_string()),
            (labels::IMAGE_CONTEXT_HASH.to_string(), hash),
        ]);
        let request = BuildRequest {
            tag: spec.tag.clone(),
            dockerfile: spec.dockerfile.clone(),
            build_args: spec.build_args.clone(),
            labels,
            context_tar: context.to_tar()?,
        };
        let size = context.total_size();
        match image::build(&self.engine, request, |line| task.message(line)).await {
            Ok(id) => {
                if let Some(old) = existing.filter(|old| old.id != id) {
                    self.replaced_image_ids.borrow_mut().push(old.id.clone());
                }
                task.finish(&format!("built from a {} KiB context", size / 1024));
                self.changes
                    .borrow_mut()
                    .add(format!("built image {}", spec.tag));
                Ok(())
            }
            Err(error) => {
                task.fail("build failed");
                Err(error.into())
            }
        }
    }

    async fn apply_volume(&mut self, step: &Step) -> anyhow::Result<()> {
        if step.action == Action::Remove {
            // Deleting data is left to `down --volumes`.
            self.progress.info(&format!(
                "volume {} is no longer declared and was kept; `down --volumes` removes it",
                step.name
            ));
            return Ok(());
        }
        let task = self
            .progress
            .task(format!("volume {}", step.name), &step.reason.to_string());
        let outcome = volume::ensure(&self.engine, &step.name, &self.labels(step)).await?;
        task.finish(&outcome.to_string());
        if outcome == Outcome::Created {
            self.changes
                .borrow_mut()
                .add(format!("created volume {}", step.name));
        }
        Ok(())
    }

    async fn apply_network(&mut self, step: &Step) -> anyhow::Result<()> {
        let task = self
            .progress
            .task(format!("network {}", step.name), &step.reason.to_string());
        let outcome = match step
            .key
            .as_deref()
            .and_then(|key| self.stack.networks.get(key))
        {
            Some(spec) if step.action != Action::Remove => {
                network::ensure(&self.engine, &spec.name, &spec.driver, &self.labels(step)).await?
            }
            _ => network::remove(&self.engine, &step.name).await?,
        };
        task.finish(&outcome.to_string());
        if outcome != Outcome::Unchanged && outcome != Outcome::Absent {
            self.changes
                .borrow_mut()
                .add(format!("{outcome} network {}", step.name));
        }
        Ok(())
    }

    fn labels(&self, step: &Step) -> BTreeMap<String, String> {
        let mut labels =
            BTreeMap::from([(labels::PROJECT.to_string(), self.stack.project.clone())]);
        if let Some(key) = &step.key {
            labels.insert(labels::RESOURCE.to_string(), key.clone());
        }
        labels
    }

    async fn apply_container(&mut self, step: &Step) -> anyhow::Result<()> {
        let spec = self
            .stack
            .containers
            .iter()
            .find(|c| Some(&c.name) == step.key.as_ref());
        let Some(spec) = spec.filter(|_| step.action != Action::Remove) else {
            let task = self
                .progress
                .task(format!("container {}", step.name), "removing");
            container::stop(&self.engine, &step.name, STOP_GRACE).await?;
            let outcome = container::remove(&self.engine, &step.name).await?;
            task.finish(&outcome.to_string());
            self.changes
                .borrow_mut()
                .add(format!("removed container {}", step.name));
            return Ok(());
        };

        let task = self
            .progress
            .task(format!("container {}", spec.name), &step.reason.to_string());
        container::stop(&self.engine, &spec.name, STOP_GRACE).await?;
        container::remove(&self.engine, &spec.name).await?;

        let image_tag = &self.stack.images[&spec.image].tag;
        let mut labels = BTreeMap::from([
            (labels::PROJECT.to_string(), self.stack.project.clone()),
            (labels::RESOURCE.to_string(), spec.name.clone()),
        ]);
        labels.insert(
            labels::CONTAINER_FINGERPRINT.to_string(),
            plan::fingerprint(self.stack, spec),
        );
        let body = container::create_body(self.stack, spec, image_tag, &labels);
        container::create(&self.engine, self.stack, spec, body).await?;
        if let Err(source) = container::start(&self.engine, &spec.name).await {
            task.fail("failed to start");
            return Err(start_error(spec, source));
        }

        let result = match &spec.kind {
            ContainerKind::OneShot { timeout, .. } => {
                run_to_completion(&self.engine, spec, *timeout, &task).await
            }
            ContainerKind::Service { .. } => wait_healthy(&self.engine, spec, &task).await,
        };
        match result {
            Ok(outcome) => {
                if let ContainerKind::OneShot { .. } = spec.kind {
                    self.record_run(spec).await;
                }
                task.finish(&outcome);
                let verb = match spec.kind {
                    ContainerKind::OneShot { .. } => "ran",
                    ContainerKind::Service { .. } => "started",
                };
                self.changes
                    .borrow_mut()
                    .add(format!("{verb} {}", spec.name));
                Ok(())
            }
            Err(error) => {
                task.fail("failed");
                Err(error)
            }
        }
    }

    /// Records the fingerprint and image of a one-shot run that exited 0. A
    /// failure is reported and only costs a rerun that could be avoided
    /// later.
    async fn record_run(&self, spec: &ContainerSpec) {
        let image_id = match container::inspect(&self.engine, &spec.name).await {
            Ok(Some(found)) => found.image.unwrap_or_default(),
            Ok(None) => return,
            Err(error) => {
                tracing::debug!(container = %spec.name, error = %error, "run not recorded");
                return;
            }
        };
        let run = plan::OneShotRun {
            fingerprint: plan::fingerprint(self.stack, spec),
            image_id,
        };
        if let Err(error) = run_record::write(self.stack, &spec.name, &run) {
            self.progress.info(&format!(
                "could not record the run of {} in {}: {error}",
                spec.name,
                run_record::path(self.stack, &spec.name).display()
            ));
        }
    }

    /// Removes images that a rebuild replaced, unless something still uses
    /// them; failures only leave an unused image behind.
    async fn remove_replaced_images(&self) {
        let replaced = self.replaced_image_ids.borrow().clone();
        for id in &replaced {
            if let Err(error) = image::remove(&self.engine, id).await {
                tracing::debug!(image = %id, error = %error, "kept a replaced image");
            }
        }
    }
}

/// Maps a start failure, naming the port and the key when a host port is
/// already in use.
fn start_error(spec: &ContainerSpec, source: bollard::errors::Error) -> anyhow::Error {
    let message = source.to_string();
    let port_in_use =
        message.contains("port is already allocated") || message.contains("address already in use");
    if port_in_use {
        let port = spec
            .ports
            .iter()
            .find(|p| message.contains(&format!(":{}", p.host_port)))
            .or(spec.ports.first());
        if let Some(port) = port {
            return Failure::PortInUse {
                name: spec.name.clone(),
                host_ip: port.host_ip.to_string(),
                host_port: port.host_port,
                source,
            }
            .into();
        }
    }
    anyhow::Error::new(source).context(format!("failed to start container `{}`", spec.name))
}

/// Streams the one-shot container's log lines until it stops, kills it
/// after `timeout`, and reads its exit code from its final state.
async fn run_to_completion(
    engine: &Engine,
    spec: &ContainerSpec,
    timeout: Duration,
    task: &crate::progress::Task,
) -> anyhow::Result<String> {
    let started = Instant::now();
    let logs = async {
        let mut lines = std::pin::pin!(container::log_lines(engine, &spec.name, true, None));
        while let Some(Ok(line)) = lines.next().await {
            task.line(&line);
        }
    };
    let wait = async {
        let stopped = container::wait_stopped(engine, &spec.name, timeout).await?;
        if !stopped {
            container::kill(engine, &spec.name).await?;
            // SIGKILL is delivered asynchronously; the exit code is only
            // final once the engine reports the container stopped.
            container::wait_stopped(engine, &spec.name, Duration::from_secs(10)).await?;
        }
        Ok::<bool, anyhow::Error>(stopped)
    };
    // The log stream ends when the container stops; the bound covers an
    // engine that keeps it open.
    let logs = tokio::time::timeout(timeout + Duration::from_secs(10), logs);
    let (_, stopped) = tokio::join!(logs, wait);
    let stopped = stopped?;

    let found = container::inspect(engine, &spec.name).await?;
    let code = found
        .and_then(|c| c.state)
        .filter(|state| state.running != Some(true))
        .and_then(|state| state.exit_code)
        .unwrap_or(-1);
    // A job that exited 0 between the timeout and the kill has completed
    // (and may have published its output), so it counts by its exit code.
    if !stopped && code != 0 {
        let log = container::log_tail(engine, &spec.name, LOG_TAIL_LINES)
            .await
            .unwrap_or_default();
        return Err(Failure::OneShotTimedOut {
            name: spec.name.clone(),
            timeout,
            log,
        }
        .into());
    }
    if code != 0 {
        let log = container::log_tail(engine, &spec.name, LOG_TAIL_LINES)
            .await
            .unwrap_or_default();
        return Err(Failure::OneShotFailed {
            name: spec.name.clone(),
            code,
            log,
        }
        .into());
    }
    Ok(format!(
        "exited 0 after {}",
        format_duration(started.elapsed())
    ))
}

/// Waits until the service's healthcheck passes (or, without one, until it
/// runs). Fails as soon as it exits, restarts or is reported unhealthy.
async fn wait_healthy(
    engine: &Engine,
    spec: &ContainerSpec,
    task: &crate::progress::Task,
) -> anyhow::Result<String> {
    let started = Instant::now();
    let healthcheck = match &spec.kind {
        ContainerKind::Service { healthcheck, .. } => healthcheck.as_ref(),
        ContainerKind::OneShot { .. } => None,
    };
    // Docker marks the container unhealthy after `retries` failed probes
    // once the start period is over; the extra 10 s cover a slow engine.
    let bound = match healthcheck {
        Some(check) => {
            check.start_period
                + (check.interval + check.timeout) * (check.retries + 1)
                + Duration::from_secs(10)
        }
        None => Duration::from_secs(10),
    };
    task.message("waiting for the healthcheck");

    loop {
        let found = container::inspect(engine, &spec.name)
            .await?
            .unwrap_or_default();
        let state = found.state.unwrap_or_default();
        let status = state.status.map(|s| s.to_string()).unwrap_or_default();
        let health = state.health.unwrap_or_default();
        let probe_output = health
            .log
            .as_ref()
            .and_then(|log| log.last())
            .and_then(|result| result.output.clone());

        if status != "running" && status != "created" {
            let code = state.exit_code.unwrap_or(-1);
            let reason = format!("is {status} (exit code {code}) instead of running");
            let log = container::log_tail(engine, &spec.name, LOG_TAIL_LINES)
                .await
                .unwrap_or_default();
            return Err(Failure::ServiceFailed {
                name: spec.name.clone(),
                reason,
                probe_output,
                log,
            }
            .into());
        }
        let health_status = health.status.map(|s| s.to_string()).unwrap_or_default();
        if healthcheck.is_none() && status == "running" {
            return Ok(format!(
                "running after {}",
                format_duration(started.elapsed())
            ));
        }
        // Docker runs the first probe one `interval` after the start, and
        // Engine API 1.41 has no shorter start interval; running the same
        // command here lets `up` see readiness as soon as it exists.
        if let (Some(check), "starting", "running") =
            (healthcheck, health_status.as_str(), status.as_str())
        {
            if container::exec(engine, &spec.name, &check.command, check.timeout).await? == Some(0)
            {
                return Ok(format!(
                    "healthcheck command passed after {}",
                    format_duration(started.elapsed())
                ));
            }
        }
        match health_status.as_str() {
            "healthy" => {
                return Ok(format!(
                    "healthy after {}",
                    format_duration(started.elapsed())
                ))
            }
            "unhealthy" => {
                let reason = "is unhealthy".to_string();
                let log = container::log_tail(engine, &spec.name, LOG_TAIL_LINES)
                    .await
                    .unwrap_or_default();
                return Err(Failure::ServiceFailed {
                    name: spec.name.clone(),
                    reason,
                    probe_output,
                    log,
                }
                .into());
            }
            _ => {}
        }
        if started.elapsed() > bound {
            return Err(Failure::ServiceTimedOut {
                name: spec.name.clone(),
                bound,
                probe_output,
            }
            .into());
        }
        tokio::time::sleep(HEALTH_POLL).await;
    }
}

/// Prints the service URLs and the one-line summary.
fn print_result(run: &Run<'_>, plan: &Plan, elapsed: Duration) {
    if run.progress.mode() == crate::progress::Mode::Quiet {
        return;
    }
    for spec in &run.stack.containers {
        if let ContainerKind::Service { .. } = spec.kind {
            for port in &spec.ports {
                println!("{}: {}", spec.name, url(port.host_ip, port.host_port));
            }
        }
    }
    let elapsed = format_duration(elapsed);
    if run.changes.borrow().phrases.is_empty() {
        println!(
            "up: no changes, {} resources up to date ({elapsed})",
            plan.steps.len()
        );
    } else {
        println!(
            "up: {} ({elapsed})",
            run.changes.borrow().phrases.join(", ")
        );
    }
}

/// Returns the URL a client on this host uses for a published port.
pub fn url(host_ip: IpAddr, host_port: u16) -> String {
    match host_ip {
        ip if ip.is_unspecified() => format!("http://127.0.0.1:{host_port}"),
        IpAddr::V6(ip) => format!("http://[{ip}]:{host_port}"),
        IpAddr::V4(ip) => format!("http://{ip}:{host_port}"),
    }
}
