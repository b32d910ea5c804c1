terraform {
  # terraform_data needs Terraform 1.4 or later.
  required_version = ">= 1.4"

  required_providers {
    docker = {
      source = "kreuzwerker/docker"
      # 3.6.0 added the `cpus` argument of docker_container; 4.0 may change
      # the schema, so the range stops before it.
      version = "~> 3.6"
    }
  }
}

# Connects to DOCKER_HOST when it is set, otherwise to
# unix:///var/run/docker.sock, as the orchestrator does.
provider "docker" {}
