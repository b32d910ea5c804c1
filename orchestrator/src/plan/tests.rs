//! Planner and fingerprint cases. Each test starts from a converged state
//! (the engine matches the stack exactly) and changes one thing.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;
use crate::labels;
use crate::spec::{self, ContainerKind, Healthcheck, Protocol, RestartPolicy, Stack};

const STACK: &str = r#"[project]
name = "demo"

[build_steps.binaries]
command = ["cargo", "build"]
inputs = ["src/**"]
outputs = ["target/app"]

[images.app]
tag = "app:latest"
context = "."
after_steps = ["binaries"]

[volumes.store]

[networks.net]

[containers.job]
image = "app"
run = "once"
outputs = ["/data/model.json"]
mounts = [{ volume = "store", target = "/data" }]
networks = ["net"]

[containers.web]
image = "app"
run = "service"
depends_on = ["job"]
mounts = [{ volume = "store", target = "/data", read_only = true }]
networks = ["net"]
ports = [{ host = 8080, container = 8000 }]
healthcheck = { command = ["/app", "healthcheck"], interval = "2s" }
"#;

const IMAGE_ID: &str = "sha256:1111";
const CONTEXT_HASH: &str = "context-hash-1";
const INPUTS_HASH: &str = "inputs-hash-1";

fn stack() -> Stack {
    spec::parse(STACK, Path::new("/srv/demo/infra.toml")).unwrap()
}

fn owned_labels(project: &str, key: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (labels::PROJECT.to_string(), project.to_string()),
        (labels::RESOURCE.to_string(), key.to_string()),
    ])
}

/// Returns the desired hashes and an observed state that match `stack`.
fn converged(stack: &Stack) -> (DesiredState, Observed) {
    let desired = DesiredState {
        image_context_hashes: BTreeMap::from([("app".to_string(), CONTEXT_HASH.to_string())]),
        build_step_inputs_hashes: BTreeMap::from([(
            "binaries".to_string(),
            INPUTS_HASH.to_string(),
        )]),
        images_without_context: Default::default(),
    };

    let mut observed = Observed::default();
    observed.build_steps.insert(
        "binaries".to_string(),
        ObservedBuildStep {
            recorded_inputs_hash: Some(INPUTS_HASH.to_string()),
            missing_outputs: vec![],
        },
    );
    let mut image_labels = owned_labels("demo", "app");
    image_labels.insert(
        labels::IMAGE_CONTEXT_HASH.to_string(),
        CONTEXT_HASH.to_string(),
    );
    observed.images.insert(
        "app:latest".to_string(),
        ObservedImage {
            id: IMAGE_ID.to_string(),
            labels: image_labels,
        },
    );
    observed.volumes.insert(
        "demo-store".to_string(),
        ObservedVolume {
            labels: owned_labels("demo", "store"),
        },
    );
    observed.networks.insert(
        "demo-net".to_string(),
        ObservedNetwork {
            id: "network-id".to_string(),
            driver: "bridge".to_string(),
            labels: owned_labels("demo", "net"),
        },
    );

    for container in &stack.containers {
        let mut labels = owned_labels("demo", &container.name);
        labels.insert(
            labels::CONTAINER_FINGERPRINT.to_string(),
            fingerprint(stack, container),
        );
        let (state, exit_code, health) = match container.kind {
            ContainerKind::OneShot { .. } => (ContainerState::Exited, Some(0), None),
            ContainerKind::Service { .. } => {
                (ContainerState::Running, None, Some(HealthStatus::Healthy))
            }
        };
        observed.containers.insert(
            container.name.clone(),
            ObservedContainer {
                id: format!("{}-id", container.name),
                image_id: IMAGE_ID.to_string(),
                labels,
                state,
                exit_code,
                health,
                missing_outputs: vec![],
            },
        );
    }
    (desired, observed)
}

/// Returns the action and reason planned for the declared resource.
fn decision(plan: &Plan, kind: ResourceKind, key: &str) -> (Action, Reason) {
    let step = plan
        .step(kind, key)
        .unwrap_or_else(|| panic!("no step for {kind} {key}:\n{plan}"));
    (step.action, step.reason.clone())
}

fn keep() -> (Action, Reason) {
    (Action::Keep, Reason::UpToDate)
}

#[test]
fn converged_state_keeps_everything() {
    let stack = stack();
    let (desired, observed) = converged(&stack);
    let plan = compute(&stack, &desired, &observed);

    assert!(!plan.has_changes(), "{plan}");
    assert_eq!(plan.changes().count(), 0);
    assert!(plan.conflicts.is_empty());
    assert_eq!(plan.steps.len(), 6);
}

#[test]
fn empty_engine_creates_everything_in_order() {
    let stack = stack();
    let (desired, _) = converged(&stack);
    let plan = compute(&stack, &desired, &Observed::default());

    let steps: Vec<(ResourceKind, &str, Action)> = plan
        .steps
        .iter()
        .map(|step| (step.kind, step.name.as_str(), step.action))
        .collect();
    assert_eq!(
        steps,
        [
            (ResourceKind::BuildStep, "binaries", Action::Rerun),
            (ResourceKind::Image, "app:latest", Action::Create),
            (ResourceKind::Volume, "demo-store", Action::Create),
            (ResourceKind::Network, "demo-net", Action::Create),
            (ResourceKind::Container, "job", Action::Create),
            (ResourceKind::Container, "web", Action::Create),
        ]
    );
    assert_eq!(plan.steps[0].reason, Reason::NeverRun);
    assert_eq!(plan.steps[1].reason, Reason::NotFound);
    assert!(plan.has_changes());
}

#[test]
fn changed_inputs_rerun_step_and_rebuild() {
    let stack = stack();
    let (mut desired, observed) = converged(&stack);
    desired
        .build_step_inputs_hashes
        .insert("binaries".into(), "inputs-hash-2".into());
    let plan = compute(&stack, &desired, &observed);

    assert_eq!(
        decision(&plan, ResourceKind::BuildStep, "binaries"),
        (Action::Rerun, Reason::InputsChanged)
    );
    assert_eq!(
        decision(&plan, ResourceKind::Image, "app"),
        (Action::Rebuild, Reason::BuildStepRuns("binaries".into()))
    );
    assert_eq!(
        decision(&plan, ResourceKind::Container, "job"),
        (Action::Rerun, Reason::ImageChanged)
    );
    assert_eq!(
        decision(&plan, ResourceKind::Container, "web"),
        (Action::Recreate, Reason::ImageChanged)
    );
}

#[test]
fn missing_step_output_reruns_step() {
    let stack = stack();
    let (desired, mut observed) = converged(&stack);
    let output = PathBuf::from("/srv/demo/target/app");
    observed
        .build_steps
        .get_mut("binaries")
        .unwrap()
        .missing_outputs = vec![output];
    let plan = compute(&stack, &desired, &observed);

    assert_eq!(
        decision(&plan, ResourceKind::BuildStep, "binaries"),
        (
            Action::Rerun,
            Reason::OutputMissing("/srv/demo/target/app".into())
        )
    );
}

#[test]
fn missing_stamp_reruns_step() {
    let stack = stack();
    let (desired, mut observed) = converged(&stack);
    observed
        .build_steps
        .get_mut("binaries")
        .unwrap()
        .recorded_inputs_hash = None;
    let plan = compute(&stack, &desired, &observed);
    assert_eq!(
        decision(&plan, ResourceKind::BuildStep, "binaries"),
        (Action::Rerun, Reason::NeverRun)
    );
}

#[test]
fn changed_context_rebuilds_image() {
    let stack = stack();
    let (mut desired, observed) = converged(&stack);
    desired
        .image_context_hashes
        .insert("app".into(), "context-hash-2".into());
    let plan = compute(&stack, &desired, &observed);

    assert_eq!(decision(&plan, ResourceKind::BuildStep, "binaries"), keep());
    assert_eq!(
        decision(&plan, ResourceKind::Image, "app"),
        (Action::Rebuild, Reason::ContextChanged)
    );
    assert_eq!(
        decision(&plan, ResourceKind::Container, "job"),
        (Action::Rerun, Reason::ImageChanged)
    );
    assert_eq!(
        decision(&plan, ResourceKind::Container, "web"),
        (Action::Recreate, Reason::ImageChanged)
    );
}

#[test]
fn unknown_context_hash_rebuilds_image() {
    let stack = stack();
    let (mut desired, observed) = converged(&stack);
    desired.image_context_hashes.clear();
    let plan = compute(&stack, &desired, &observed);
    assert_eq!(
        decision(&plan, ResourceKind::Image, "app"),
        (Action::Rebuild, Reason::ContextHashUnknown)
    );
}

#[test]
fn unlabelled_image_with_tag_rebuilt() {
    let stack = stack();
    let (desired, mut observed) = converged(&stack);
    observed
        .images
        .get_mut("app:latest")
        .unwrap()
        .labels
        .clear();
    let plan = compute(&stack, &desired, &observed);

    assert_eq!(
        decision(&plan, ResourceKind::Image, "app"),
        (Action::Rebuild, Reason::ContextHashUnknown)
    );
    assert!(plan.conflicts.is_empty());
}

#[test]
fn image_without_context_kept() {
    // An imported image on a machine without the sources: no context hash.
    let stack = stack();
    let (mut desired, observed) = converged(&stack);
    desired.image_context_hashes.clear();
    desired.images_without_context.insert("app".into());
    let plan = compute(&stack, &desired, &observed);

    assert_eq!(
        decision(&plan, ResourceKind::Image, "app"),
        (Action::Keep, Reason::NoBuildContext)
    );
    assert_eq!(decision(&plan, ResourceKind::Container, "job"), keep());
    assert_eq!(decision(&plan, ResourceKind::Container, "web"), keep());
}

#[test]
fn missing_image_without_context_created() {
    let stack = stack();
    let (mut desired, mut observed) = converged(&stack);
    desired.images_without_context.insert("app".into());
    observed.images.clear();
    let plan = compute(&stack, &desired, &observed);

    // The engine layer reports that the image cannot be built.
    assert_eq!(
        decision(&plan, ResourceKind::Image, "app"),
        (Action::Create, Reason::NotFound)
    );
}

#[test]
fn image_of_other_project_conflicts() {
    let stack = stack();
    let (desired, mut observed) = converged(&stack);
    observed.images.get_mut("app:latest").unwrap().labels = owned_labels("other", "app");
    let plan = compute(&stack, &desired, &observed);

    assert!(plan.step(ResourceKind::Image, "app").is_none());
    assert_eq!(
        plan.conflicts,
        [Conflict {
            kind: ResourceKind::Image,
            name: "app:latest".into(),
            owner: Some("other".into()),
        }]
    );
}

#[test]
fn container_on_old_image_replaced() {
    let stack = stack();
    let (desired, mut observed) = converged(&stack);
    observed.containers.get_mut("web").unwrap().image_id = "sha256:0000".into();
    let plan = compute(&stack, &desired, &observed);

    assert_eq!(
        decision(&plan, ResourceKind::Container, "web"),
        (Action::Recreate, Reason::ImageChanged)
    );
    assert_eq!(decision(&plan, ResourceKind::Container, "job"), keep());
}

#[test]
fn changed_one_shot_config_reruns_only_it() {
    let stack = stack();
    let (desired, mut observed) = converged(&stack);
    let job = observed.containers.get_mut("job").unwrap();
    job.labels
        .insert(labels::CONTAINER_FINGERPRINT.into(), "old".into());
    let plan = compute(&stack, &desired, &observed);

    assert_eq!(
        decision(&plan, ResourceKind::Container, "job"),
        (Action::Rerun, Reason::ConfigChanged)
    );
    // The API reloads the model the rerun publishes, so it is not recreated.
    assert_eq!(decision(&plan, ResourceKind::Container, "web"), keep());
    assert_eq!(plan.changes().count(), 1);
}

#[test]
fn changed_service_config_recreates_only_it() {
    let stack = stack();
    let (desired, mut observed) = converged(&stack);
    observed
        .containers
        .get_mut("web")
        .unwrap()
        .labels
        .remove(labels::CONTAINER_FINGERPRINT);
    let plan = compute(&stack, &desired, &observed);

    assert_eq!(
        decision(&plan, ResourceKind::Container, "web"),
        (Action::Recreate, Reason::ConfigChanged)
    );
    assert_eq!(decision(&plan, ResourceKind::Container, "job"), keep());
    assert_eq!(plan.changes().count(), 1);
}

#[test]
fn failed_one_shot_reruns() {
    let stack = stack();
    let (desired, mut observed) = converged(&stack);
    observed.containers.get_mut("job").unwrap().exit_code = Some(3);
    let plan = compute(&stack, &desired, &observed);

    assert_eq!(
        decision(&plan, ResourceKind::Container, "job"),
        (Action::Rerun, Reason::LastRunFailed { exit_code: 3 })
    );
    assert_eq!(decision(&plan, ResourceKind::Container, "web"), keep());
}

#[test]
fn missing_one_shot_output_reruns() {
    let stack = stack();
    let (desired, mut observed) = converged(&stack);
    observed.containers.get_mut("job").unwrap().missing_outputs = vec!["/data/model.json".into()];
    let plan = compute(&stack, &desired, &observed);

    assert_eq!(
        decision(&plan, ResourceKind::Container, "job"),
        (
            Action::Rerun,
            Reason::OutputMissing("/data/model.json".into())
        )
    );
}

/// Returns a converged state where the one-shot container `job` does not
/// exist (removed by `down`, or never created on an importing machine)
/// and its volume contains every declared output.
fn job_absent_output_present(stack: &Stack) -> (DesiredState, Observed) {
    let (desired, mut observed) = converged(stack);
    observed.containers.remove("job");
    observed
        .absent_one_shot_missing_outputs
        .insert("job".into(), vec![]);
    (desired, observed)
}

fn job_run(stack: &Stack) -> OneShotRun {
    let job = stack.containers.iter().find(|c| c.name == "job").unwrap();
    OneShotRun {
        fingerprint: fingerprint(stack, job),
        image_id: IMAGE_ID.into(),
    }
}

#[test]
fn absent_job_without_record_kept() {
    let stack = stack();
    let (desired, observed) = job_absent_output_present(&stack);
    let plan = compute(&stack, &desired, &observed);

    assert_eq!(
        decision(&plan, ResourceKind::Container, "job"),
        (Action::Keep, Reason::OutputPresentKept)
    );
    assert!(!plan.has_changes(), "{plan}");
    assert!(plan.to_string().contains("output present in volume, kept"));
}

#[test]
fn absent_job_matching_record_kept() {
    let stack = stack();
    let (desired, mut observed) = job_absent_output_present(&stack);
    observed.one_shot_runs.insert("job".into(), job_run(&stack));
    let plan = compute(&stack, &desired, &observed);

    assert_eq!(
        decision(&plan, ResourceKind::Container, "job"),
        (Action::Keep, Reason::OutputPresentKept)
    );
}

#[test]
fn absent_job_other_fingerprint_reruns() {
    let stack = stack();
    let (desired, mut observed) = job_absent_output_present(&stack);
    let mut run = job_run(&stack);
    run.fingerprint = "old".into();
    observed.one_shot_runs.insert("job".into(), run);
    let plan = compute(&stack, &desired, &observed);

    assert_eq!(
        decision(&plan, ResourceKind::Container, "job"),
        (Action::Rerun, Reason::ChangedSinceLastRun)
    );
    assert!(plan
        .to_string()
        .contains("configuration changed since last run"));
}

#[test]
fn absent_job_other_image_reruns() {
    let stack = stack();
    let (desired, mut observed) = job_absent_output_present(&stack);
    let mut run = job_run(&stack);
    run.image_id = "sha256:0000".into();
    observed.one_shot_runs.insert("job".into(), run);
    let plan = compute(&stack, &desired, &observed);

    assert_eq!(
        decision(&plan, ResourceKind::Container, "job"),
        (Action::Rerun, Reason::ChangedSinceLastRun)
    );
}

#[test]
fn absent_job_rebuilt_image_reruns() {
    let stack = stack();
    let (mut desired, mut observed) = job_absent_output_present(&stack);
    observed.one_shot_runs.insert("job".into(), job_run(&stack));
    desired
        .image_context_hashes
        .insert("app".into(), "context-hash-2".into());
    let plan = compute(&stack, &desired, &observed);

    assert_eq!(
        decision(&plan, ResourceKind::Container, "job"),
        (Action::Rerun, Reason::ChangedSinceLastRun)
    );
}

#[test]
fn absent_job_missing_output_created() {
    let stack = stack();
    let (desired, mut observed) = job_absent_output_present(&stack);
    observed
        .absent_one_shot_missing_outputs
        .insert("job".into(), vec!["/data/model.json".into()]);
    let plan = compute(&stack, &desired, &observed);

    assert_eq!(
        decision(&plan, ResourceKind::Container, "job"),
        (Action::Create, Reason::NotFound)
    );
}

#[test]
fn absent_job_unchecked_created() {
    let stack = stack();
    let (desired, mut observed) = job_absent_output_present(&stack);
    observed.absent_one_shot_missing_outputs.clear();
    let plan = compute(&stack, &desired, &observed);

    assert_eq!(
        decision(&plan, ResourceKind::Container, "job"),
        (Action::Create, Reason::NotFound)
    );
}

#[test]
fn unfinished_one_shot_reruns() {
    let stack = stack();
    for state in [ContainerState::Running, ContainerState::Created] {
        let (desired, mut observed) = converged(&stack);
        let job = observed.containers.get_mut("job").unwrap();
        job.state = state;
        job.exit_code = None;
        let plan = compute(&stack, &desired, &observed);

        assert_eq!(
            decision(&plan, ResourceKind::Container, "job"),
            (Action::Rerun, Reason::LastRunUnfinished(state))
        );
    }
}

#[test]
fn stopped_service_recreated() {
    let stack = stack();
    let (desired, mut observed) = converged(&stack);
    let web = observed.containers.get_mut("web").unwrap();
    web.state = ContainerState::Exited;
    web.exit_code = Some(137);
    let plan = compute(&stack, &desired, &observed);

    assert_eq!(
        decision(&plan, ResourceKind::Container, "web"),
        (Action::Recreate, Reason::NotRunning(ContainerState::Exited))
    );
}

#[test]
fn restarting_service_kept() {
    let stack = stack();
    let (desired, mut observed) = converged(&stack);
    observed.containers.get_mut("web").unwrap().state = ContainerState::Restarting;
    let plan = compute(&stack, &desired, &observed);
    assert_eq!(decision(&plan, ResourceKind::Container, "web"), keep());
}

#[test]
fn new_volume_replaces_its_users() {
    let stack = stack();
    let (desired, mut observed) = converged(&stack);
    observed.volumes.clear();
    let plan = compute(&stack, &desired, &observed);

    let reason = Reason::DependencyCreated {
        kind: ResourceKind::Volume,
        key: "store".into(),
    };
    assert_eq!(
        decision(&plan, ResourceKind::Volume, "store"),
        (Action::Create, Reason::NotFound)
    );
    assert_eq!(
        decision(&plan, ResourceKind::Container, "job"),
        (Action::Rerun, reason.clone())
    );
    assert_eq!(
        decision(&plan, ResourceKind::Container, "web"),
        (Action::Recreate, reason)
    );
}

#[test]
fn network_with_other_driver_recreated() {
    let stack = stack();
    let (desired, mut observed) = converged(&stack);
    observed.networks.get_mut("demo-net").unwrap().driver = "overlay".into();
    let plan = compute(&stack, &desired, &observed);

    assert_eq!(
        decision(&plan, ResourceKind::Network, "net"),
        (Action::Recreate, Reason::ConfigChanged)
    );
    let reason = Reason::DependencyCreated {
        kind: ResourceKind::Network,
        key: "net".into(),
    };
    assert_eq!(
        decision(&plan, ResourceKind::Container, "web"),
        (Action::Recreate, reason)
    );
}

#[test]
fn undeclared_resources_removed() {
    let stack = stack();
    let (desired, mut observed) = converged(&stack);
    let old_container = observed.containers["web"].clone();
    observed.containers.insert("old-web".into(), old_container);
    observed.networks.insert(
        "demo-old".into(),
        ObservedNetwork {
            id: "old".into(),
            driver: "bridge".into(),
            labels: owned_labels("demo", "old"),
        },
    );
    observed.volumes.insert(
        "demo-old".into(),
        ObservedVolume {
            labels: owned_labels("demo", "old"),
        },
    );
    let old_image = observed.images["app:latest"].clone();
    observed.images.insert("old:latest".into(), old_image);
    let plan = compute(&stack, &desired, &observed);

    let removals: Vec<(usize, ResourceKind, &str)> = plan
        .steps
        .iter()
        .enumerate()
        .filter(|(_, step)| step.action == Action::Remove)
        .map(|(position, step)| (position, step.kind, step.name.as_str()))
        .collect();
    // Containers go first, so that nothing still uses what is removed last.
    assert_eq!(
        removals,
        [
            (0, ResourceKind::Container, "old-web"),
            (7, ResourceKind::Network, "demo-old"),
            (8, ResourceKind::Volume, "demo-old"),
            (9, ResourceKind::Image, "old:latest"),
        ]
    );
    assert!(plan
        .steps
        .iter()
        .filter(|s| s.action == Action::Remove)
        .all(|s| s.key.is_none()));
    assert!(plan
        .steps
        .iter()
        .filter(|s| s.action == Action::Remove)
        .all(|s| s.reason == Reason::NotDeclared));
}

#[test]
fn foreign_resources_never_removed() {
    let stack = stack();
    let (desired, mut observed) = converged(&stack);
    let mut stranger = observed.containers["web"].clone();
    stranger.labels = owned_labels("other", "web");
    observed.containers.insert("stranger".into(), stranger);
    observed.volumes.insert(
        "unlabelled".into(),
        ObservedVolume {
            labels: BTreeMap::new(),
        },
    );
    let plan = compute(&stack, &desired, &observed);

    assert!(!plan.has_changes(), "{plan}");
}

#[test]
fn declared_name_taken_conflicts() {
    let stack = stack();
    let (desired, mut observed) = converged(&stack);
    observed.containers.get_mut("web").unwrap().labels.clear();
    observed.volumes.get_mut("demo-store").unwrap().labels = owned_labels("other", "store");
    let plan = compute(&stack, &desired, &observed);

    assert!(plan.step(ResourceKind::Container, "web").is_none());
    assert_eq!(
        plan.conflicts,
        [
            Conflict {
                kind: ResourceKind::Volume,
                name: "demo-store".into(),
                owner: Some("other".into()),
            },
            Conflict {
                kind: ResourceKind::Container,
                name: "web".into(),
                owner: None,
            },
        ]
    );
}

#[test]
fn plan_display_lists_steps() {
    let stack = stack();
    let (desired, mut observed) = converged(&stack);
    observed.containers.get_mut("job").unwrap().exit_code = Some(1);
    observed.containers.get_mut("web").unwrap().labels.clear();
    let text = compute(&stack, &desired, &observed).to_string();
    let lines: Vec<&str> = text.lines().collect();

    assert_eq!(lines[0], "keep      build step  binaries: up to date");
    assert_eq!(
        lines[4],
        "rerun     container   job: last run exited with code 1"
    );
    assert_eq!(
        lines[5],
        "conflict  container name web is taken by a resource of no project of this tool; \
         remove it or change the name in the stack file"
    );
}

type StackChange = Box<dyn FnOnce(&mut Stack)>;

/// Returns the fingerprint of `web` after `change` is applied to the stack.
fn web_fingerprint_with(change: impl FnOnce(&mut Stack)) -> String {
    let mut stack = stack();
    change(&mut stack);
    fingerprint(&stack, &stack.containers[1])
}

fn web(stack: &mut Stack) -> &mut crate::spec::ContainerSpec {
    &mut stack.containers[1]
}

#[test]
fn fingerprint_is_hex_sha256() {
    let value = web_fingerprint_with(|_| {});
    assert_eq!(value.len(), 64);
    assert!(value.chars().all(|c| c.is_ascii_hexdigit()));
}

#[test]
fn fingerprint_ignores_declaration_order() {
    let original = web_fingerprint_with(|_| {});

    let reordered = web_fingerprint_with(|stack| {
        let web = web(stack);
        web.env = BTreeMap::from([("B".into(), "2".into()), ("A".into(), "1".into())]);
        web.mounts.push(crate::spec::Mount {
            volume: "store".into(),
            target: "/cache".into(),
            read_only: false,
        });
        web.mounts.reverse();
    });
    let other_order = web_fingerprint_with(|stack| {
        let web = web(stack);
        let mut env = BTreeMap::new();
        env.insert("A".to_string(), "1".to_string());
        env.insert("B".to_string(), "2".to_string());
        web.env = env;
        web.mounts.push(crate::spec::Mount {
            volume: "store".into(),
            target: "/cache".into(),
            read_only: false,
        });
    });
    assert_eq!(reordered, other_order);
    assert_ne!(reordered, original);

    let two_networks = |reverse: bool| {
        web_fingerprint_with(move |stack| {
            stack.networks.insert(
                "extra".into(),
                crate::spec::NetworkSpec {
                    key: "extra".into(),
                    name: "demo-extra".into(),
                    driver: "bridge".into(),
                },
            );
            let web = web(stack);
            web.networks.push("extra".into());
            let mut second_port = web.ports[0];
            second_port.host_port = 9090;
            web.ports.push(second_port);
            if reverse {
                web.networks.reverse();
                web.ports.reverse();
            }
        })
    };
    assert_eq!(two_networks(false), two_networks(true));
}

#[test]
fn fingerprint_ignores_port_notation() {
    let with_ports = |ports: &str| {
        let text = STACK.replace("ports = [{ host = 8080, container = 8000 }]", ports);
        let stack = spec::parse(&text, Path::new("/srv/demo/infra.toml")).unwrap();
        fingerprint(&stack, &stack.containers[1])
    };
    // The default address and protocol, written out or left out, and two
    // spellings of one IPv6 address.
    assert_eq!(
        with_ports("ports = [{ host = 8080, container = 8000 }]"),
        with_ports(
            r#"ports = [{ host = 8080, container = 8000, host_ip = "127.0.0.1", protocol = "tcp" }]"#
        )
    );
    assert_eq!(
        with_ports(r#"ports = [{ host = 8080, container = 8000, host_ip = "::1" }]"#),
        with_ports(r#"ports = [{ host = 8080, container = 8000, host_ip = "0:0:0:0:0:0:0:1" }]"#)
    );
}

#[test]
fn fingerprint_changes_with_each_field() {
    let original = web_fingerprint_with(|_| {});
    let ipv6 = "::1".parse::<IpAddr>().unwrap();
    let changes: Vec<(&str, StackChange)> = vec![
        (
            "image tag",
            Box::new(|s| s.images.get_mut("app").unwrap().tag = "app:v2".into()),
        ),
        (
            "command",
            Box::new(|s| web(s).command = Some(vec!["/app".into(), "serve".into()])),
        ),
        (
            "env",
            Box::new(|s| _ = web(s).env.insert("RUST_LOG".into(), "debug".into())),
        ),
        (
            "mount target",
            Box::new(|s| web(s).mounts[0].target = "/model".into()),
        ),
        (
            "mount read_only",
            Box::new(|s| web(s).mounts[0].read_only = false),
        ),
        (
            "volume engine name",
            Box::new(|s| s.volumes.get_mut("store").unwrap().name = "demo-store-2".into()),
        ),
        (
            "network engine name",
            Box::new(|s| s.networks.get_mut("net").unwrap().name = "demo-net-2".into()),
        ),
        ("host port", Box::new(|s| web(s).ports[0].host_port = 8081)),
        (
            "container port",
            Box::new(|s| web(s).ports[0].container_port = 8001),
        ),
        ("host ip", Box::new(move |s| web(s).ports[0].host_ip = ipv6)),
        (
            "protocol",
            Box::new(|s| web(s).ports[0].protocol = Protocol::Udp),
        ),
        ("user", Box::new(|s| web(s).security.user = None)),
        (
            "read_only_rootfs",
            Box::new(|s| web(s).security.read_only_rootfs = false),
        ),
        (
            "drop_all_capabilities",
            Box::new(|s| web(s).security.drop_all_capabilities = false),
        ),
        (
            "no_new_privileges",
            Box::new(|s| web(s).security.no_new_privileges = false),
        ),
        (
            "memory",
            Box::new(|s| web(s).resources.memory_bytes = Some(1 << 30)),
        ),
        ("pids", Box::new(|s| web(s).resources.pids_limit = None)),
        (
            "cpus",
            Box::new(|s| web(s).resources.nano_cpus = Some(500_000_000)),
        ),
        (
            "healthcheck interval",
            Box::new(|s| set_healthcheck(s, |h| h.interval = Duration::from_secs(3))),
        ),
        (
            "healthcheck timeout",
            Box::new(|s| set_healthcheck(s, |h| h.timeout = Duration::from_secs(3))),
        ),
        (
            "healthcheck retries",
            Box::new(|s| set_healthcheck(s, |h| h.retries = 5)),
        ),
        (
            "healthcheck start_period",
            Box::new(|s| set_healthcheck(s, |h| h.start_period = Duration::from_secs(1))),
        ),
        (
            "healthcheck command",
            Box::new(|s| set_healthcheck(s, |h| h.command = vec!["/app".into()])),
        ),
        (
            "restart",
            Box::new(|s| set_restart(s, RestartPolicy::Always)),
        ),
        (
            "restart retries",
            Box::new(|s| set_restart(s, RestartPolicy::OnFailure { max_retries: 2 })),
        ),
    ];

    let mut seen = vec![original];
    for (field, change) in changes {
        let changed = web_fingerprint_with(change);
        assert!(
            !seen.contains(&changed),
            "changing {field} must change the fingerprint"
        );
        seen.push(changed);
    }
}

#[test]
fn fingerprint_ignores_orchestrator_only_settings() {
    let stack = stack();
    let original = fingerprint(&stack, &stack.containers[0]);
    let mut changed = stack.clone();
    changed.containers[0].kind = ContainerKind::OneShot {
        timeout: Duration::from_secs(5),
        outputs: vec![],
    };
    changed.containers[0].depends_on = vec!["web".into()];
    assert_eq!(fingerprint(&changed, &changed.containers[0]), original);
}

fn set_healthcheck(stack: &mut Stack, change: impl FnOnce(&mut Healthcheck)) {
    if let ContainerKind::Service {
        healthcheck: Some(healthcheck),
        ..
    } = &mut web(stack).kind
    {
        change(healthcheck);
    }
}

fn set_restart(stack: &mut Stack, policy: RestartPolicy) {
    if let ContainerKind::Service { restart, .. } = &mut web(stack).kind {
        *restart = policy;
    }
}

#[test]
fn build_step_skipped_without_contexts() {
    // `-f` on a copy of the stack file away from the sources: the inputs
    // hash differs (no input files match), but no image can be built, so
    // running the step would only fail.
    let stack = stack();
    let (mut desired, observed) = converged(&stack);
    desired.image_context_hashes.clear();
    desired.images_without_context.insert("app".into());
    desired
        .build_step_inputs_hashes
        .insert("binaries".into(), "hash-of-no-files".into());
    let plan = compute(&stack, &desired, &observed);

    assert_eq!(
        decision(&plan, ResourceKind::BuildStep, "binaries"),
        (Action::Keep, Reason::NoImageToBuild)
    );
    assert_eq!(
        decision(&plan, ResourceKind::Image, "app"),
        (Action::Keep, Reason::NoBuildContext)
    );
}
