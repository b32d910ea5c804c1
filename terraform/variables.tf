variable "host_port" {
  description = "Host port that publishes the API's port 8000 (ports[0].host of ml-api in infra.toml)."
  type        = number
  default     = 8080

  validation {
    condition     = var.host_port >= 1 && var.host_port <= 65535 && floor(var.host_port) == var.host_port
    error_message = "host_port must be an integer from 1 to 65535."
  }
}

variable "bind_address" {
  description = "Host IP address the published port listens on (ports[0].host_ip of ml-api in infra.toml). 0.0.0.0 exposes the API on every interface."
  type        = string
  default     = "127.0.0.1"
}
