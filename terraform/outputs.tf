output "api_url" {
  description = "Base URL of the API on the host; POST /predict serves predictions."
  # A wildcard bind address is reached through the loopback address, and an
  # IPv6 address needs brackets in a URL.
  value = format(
    "http://%s:%d",
    contains(["0.0.0.0", "::"], var.bind_address) ? "127.0.0.1" : (length(split(":", var.bind_address)) > 1 ? "[${var.bind_address}]" : var.bind_address),
    var.host_port,
  )
}

output "etl_exit_code" {
  description = "Exit code of the last etl-pipeline run; the apply fails unless it is 0."
  value       = docker_container.etl_pipeline.exit_code
}
