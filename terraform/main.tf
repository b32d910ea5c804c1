# The MLOps stack of infra.toml for `terraform apply`: the static binaries,
# both images, the model volume, the network, the one-shot ETL container and
# the API container. Every value here must equal its counterpart in
# infra.toml. orchestrator/tests/terraform_parity.rs compares the two
# resource by resource and lists every difference.
#
# Paths come from path.module, so `terraform -chdir=terraform apply` and
# `cd terraform && terraform apply` behave the same.

locals {
  # Directory of infra.toml, against which its relative paths resolve.
  repo_root  = abspath("${path.module}/..")
  module_dir = abspath(path.module)

  # [project] name, the value of the ownership label on every resource.
  project = "mlops"
  # Label keys the orchestrator sets (orchestrator/src/labels.rs).
  project_label  = "mlops-orchestrator.project"
  resource_label = "mlops-orchestrator.resource"

  # [build_steps.binaries] of infra.toml.
  binaries_command = ["cargo", "build", "--release", "--locked", "--target", "x86_64-unknown-linux-gnu", "-p", "etl", "-p", "api"]
  binaries_env     = { RUSTFLAGS = "-C target-feature=+crt-static" }
  binaries_inputs  = ["Cargo.toml", "Cargo.lock", "model-artifact/**", "etl/**", "api/**"]

  # Content hash of every file the build step reads. Terraform evaluates it
  # during plan, before any binary exists, so it stands in for the binaries
  # in the image hashes below.
  binaries_inputs_sha256 = sha256(join("\n", [
    for file in sort(distinct(flatten([
      for pattern in local.binaries_inputs : tolist(fileset(local.repo_root, pattern))
    ]))) : "${file} ${filesha256("${local.repo_root}/${file}")}"
  ]))

  # Where each image's build context is staged (see stage-context.sh);
  # target/ is ignored by git.
  staging_dir = "${local.repo_root}/target/terraform-context"

  # Hash of each image's build context as plan time can see it: the
  # Dockerfile, the ignore file, every file the ignore file lets through
  # outside target/, and the binaries' inputs for the files under target/.
  # A change to any of them replaces the image.
  etl_context_sha256 = sha256(join("\n", concat(
    [
      for file in concat(["etl/Dockerfile", "etl/Dockerfile.dockerignore"], [
        for line in split("\n", file("${local.repo_root}/etl/Dockerfile.dockerignore")) :
        trimprefix(trimspace(line), "!") if startswith(trimspace(line), "!") && !startswith(trimspace(line), "!target/")
      ]) : "${file} ${filesha256("${local.repo_root}/${file}")}"
    ],
    ["binaries ${local.binaries_inputs_sha256}"],
  )))
  api_context_sha256 = sha256(join("\n", concat(
    [
      for file in concat(["api/Dockerfile", "api/Dockerfile.dockerignore"], [
        for line in split("\n", file("${local.repo_root}/api/Dockerfile.dockerignore")) :
        trimprefix(trimspace(line), "!") if startswith(trimspace(line), "!") && !startswith(trimspace(line), "!target/")
      ]) : "${file} ${filesha256("${local.repo_root}/${file}")}"
    ],
    ["binaries ${local.binaries_inputs_sha256}"],
  )))
}

# Builds the static binaries that the FROM-scratch images copy, again
# whenever one of the step's inputs changes.
#
# Differences from the orchestrator:
# - The step reruns when its inputs change, not when an output file is
#   missing. After `cargo clean`, run
#   `terraform apply -replace=terraform_data.binaries`.
# - The command runs through /bin/sh, so every argument must be a plain word.
resource "terraform_data" "binaries" {
  triggers_replace = {
    inputs = local.binaries_inputs_sha256
  }

  provisioner "local-exec" {
    working_dir = local.repo_root
    environment = local.binaries_env
    command     = join(" ", local.binaries_command)
  }
}

# Copies each image's build context into its own directory. The docker
# provider reads only a .dockerignore at the root of a context and does not
# know per-Dockerfile ignore files, so building from the repository root
# would send all of it, target/ included. The staged directory holds the
# Dockerfile, the ignore file and exactly the files that the ignore file lets
# through, at the same relative paths, so the Dockerfile works unchanged.
# orchestrator/tests/terraform_parity.rs checks that these are the files the
# orchestrator sends.
resource "terraform_data" "etl_context" {
  triggers_replace = {
    context = local.etl_context_sha256
  }

  provisioner "local-exec" {
    environment = {
      STAGE_SCRIPT = "${local.module_dir}/stage-context.sh"
      SOURCE_DIR   = local.repo_root
      DOCKERFILE   = "etl/Dockerfile"
      IGNORE_FILE  = "etl/Dockerfile.dockerignore"
      DEST_DIR     = "${local.staging_dir}/etl"
    }
    command = "sh \"$STAGE_SCRIPT\" \"$SOURCE_DIR\" \"$DOCKERFILE\" \"$IGNORE_FILE\" \"$DEST_DIR\""
  }

  depends_on = [terraform_data.binaries]
}

resource "terraform_data" "api_context" {
  triggers_replace = {
    context = local.api_context_sha256
  }

  provisioner "local-exec" {
    environment = {
      STAGE_SCRIPT = "${local.module_dir}/stage-context.sh"
      SOURCE_DIR   = local.repo_root
      DOCKERFILE   = "api/Dockerfile"
      IGNORE_FILE  = "api/Dockerfile.dockerignore"
      DEST_DIR     = "${local.staging_dir}/api"
    }
    command = "sh \"$STAGE_SCRIPT\" \"$SOURCE_DIR\" \"$DOCKERFILE\" \"$IGNORE_FILE\" \"$DEST_DIR\""
  }

  depends_on = [terraform_data.binaries]
}

# Differences from the orchestrator:
# - The build context is the staged copy described at terraform_data.etl_context,
#   not the repository root with etl/Dockerfile.dockerignore applied.
# - The image is rebuilt when its context hash changes, and that hash covers
#   the inputs of both binaries, so a change to api/ also rebuilds this image.
# - The mlops-orchestrator.context-hash label is not set, so a later
#   `orchestrator up` rebuilds the image once.
resource "docker_image" "etl" {
  name = "etl_app:latest"

  build {
    context    = "${local.staging_dir}/etl"
    dockerfile = "etl/Dockerfile"
    tag        = ["etl_app:latest"]
    label = {
      (local.project_label)  = local.project
      (local.resource_label) = "etl"
    }
  }

  triggers = {
    context = local.etl_context_sha256
  }

  # `orchestrator down` keeps images unless --images is given.
  keep_locally = true

  depends_on = [terraform_data.etl_context]
}

# Differences from the orchestrator: as for docker_image.etl, with
# terraform_data.api_context as the staged context.
resource "docker_image" "api" {
  name = "ml_app:latest"

  build {
    context    = "${local.staging_dir}/api"
    dockerfile = "api/Dockerfile"
    tag        = ["ml_app:latest"]
    label = {
      (local.project_label)  = local.project
      (local.resource_label) = "api"
    }
  }

  triggers = {
    context = local.api_context_sha256
  }

  keep_locally = true

  depends_on = [terraform_data.api_context]
}

# Difference from the orchestrator: `terraform destroy` removes the volume,
# and the trained model with it, while `orchestrator down` keeps it unless
# --volumes is given.
resource "docker_volume" "model_store" {
  name = "mlops-model-store"

  labels {
    label = local.project_label
    value = local.project
  }
  labels {
    label = local.resource_label
    value = "model_store"
  }
}

resource "docker_network" "backend" {
  name   = "mlops-backend"
  driver = "bridge"

  labels {
    label = local.project_label
    value = local.project
  }
  labels {
    label = local.resource_label
    value = "backend"
  }
}

# The ETL job runs once: the provider starts it, attaches and waits for it to
# exit (must_run = false), records the exit code, and the postcondition turns
# a non-zero code into a failed apply, so ml-api is neither created nor
# replaced and the volume keeps the previous model.
#
# Settings the provider cannot express:
# - timeout = "10m": the provider waits for the exit without a bound.
# - resources.pids = 64: docker_container has no PID limit argument.
# - outputs = ["/data/model.json"]: the job reruns when the container is
#   replaced (new image or configuration), not when the model file is missing.
# - The mlops-orchestrator.fingerprint label is not set, so a later
#   `orchestrator up` recreates and reruns the container once.
resource "docker_container" "etl_pipeline" {
  name  = "etl-pipeline"
  image = docker_image.etl.image_id

  must_run = false
  attach   = true
  logs     = true

  env = [
    "ETL_MIN_ACCURACY=0.9",
    "ETL_OUTPUT_DIR=/data",
    "ETL_SEED=42",
  ]

  mounts {
    type      = "volume"
    source    = docker_volume.model_store.name
    target    = "/data"
    read_only = false
  }

  networks_advanced {
    name = docker_network.backend.name
  }

  # resources.memory = "512MiB"; the provider counts in MiB.
  memory = 512

  user      = "10001:10001"
  read_only = true
  capabilities {
    drop = ["ALL"]
  }
  security_opts = ["no-new-privileges:true"]

  labels {
    label = local.project_label
    value = local.project
  }
  labels {
    label = local.resource_label
    value = "etl-pipeline"
  }

  lifecycle {
    postcondition {
      condition     = self.exit_code == 0
      error_message = "The etl-pipeline container exited with a non-zero code. Read its output with `docker logs etl-pipeline`, fix the cause, then run it again with `terraform apply -replace=docker_container.etl_pipeline`."
    }
  }
}

# The API starts only after the ETL job exited 0 (the postcondition above)
# and the apply waits until its healthcheck reports healthy.
#
# Settings the provider cannot express:
# - resources.pids = 64: docker_container has no PID limit argument.
# - The mlops-orchestrator.fingerprint label is not set, so a later
#   `orchestrator up` recreates the container once.
resource "docker_container" "ml_api" {
  name  = "ml-api"
  image = docker_image.api.image_id

  env = [
    "API_ADDR=0.0.0.0:8000",
    "API_MODEL_PATH=/data/model.json",
    "RUST_LOG=info",
  ]

  mounts {
    type      = "volume"
    source    = docker_volume.model_store.name
    target    = "/data"
    read_only = true
  }

  networks_advanced {
    name = docker_network.backend.name
  }

  ports {
    internal = 8000
    external = var.host_port
    ip       = var.bind_address
    protocol = "tcp"
  }

  restart = "unless-stopped"

  healthcheck {
    test         = ["CMD", "/api", "healthcheck"]
    interval     = "2s"
    timeout      = "2s"
    retries      = 3
    start_period = "2s"
  }
  # Docker marks the container unhealthy at the latest after
  # start_period + (interval + timeout) * (retries + 1) = 18 s; the other
  # 10 s leave room for a slow engine.
  wait         = true
  wait_timeout = 28

  # resources.memory = "128MiB" and resources.cpus = 1.0.
  memory = 128
  cpus   = "1"

  user      = "10001:10001"
  read_only = true
  capabilities {
    drop = ["ALL"]
  }
  security_opts = ["no-new-privileges:true"]

  # Docker's own default grace period before SIGKILL on destroy.
  destroy_grace_seconds = 10

  labels {
    label = local.project_label
    value = local.project
  }
  labels {
    label = local.resource_label
    value = "ml-api"
  }

  depends_on = [docker_container.etl_pipeline]
}
