//! Grammars of the names the stack file passes to the engine: image
//! references, container, volume and network names, and the project name.

/// Checks an image reference against Docker's grammar
/// (`[domain[:port]/]path[/path...][:tag]`, from the `distribution/reference`
/// package that the Docker CLI uses). Digests are rejected because the
/// reference names an image that `up` builds and tags.
///
/// Returns the reason as text when the reference is invalid.
pub fn check_image_reference(reference: &str) -> Result<(), String> {
    if reference.contains('@') {
        return Err("a digest (`@sha256:...`) cannot name an image that is built".to_string());
    }

    let last_slash = reference.rfind('/').map_or(0, |index| index + 1);
    let (name, tag) = match reference[last_slash..].rfind(':') {
        Some(colon) => {
            let split = last_slash + colon;
            (&reference[..split], Some(&reference[split + 1..]))
        }
        None => (reference, None),
    };

    if let Some(tag) = tag {
        check_tag(tag)?;
    }
    if name.len() > 255 {
        return Err(format!(
            "the repository name is {} characters long; the maximum is 255",
            name.len()
        ));
    }

    let mut components: Vec<&str> = name.split('/').collect();
    if components.len() > 1 && is_domain_like(components[0]) {
        check_domain(components[0])?;
        components.remove(0);
    }
    for component in components {
        check_path_component(component)?;
    }
    Ok(())
}

/// Docker treats the first component as a registry host when it contains a
/// `.` or a `:`, or is `localhost`.
fn is_domain_like(component: &str) -> bool {
    component.contains('.') || component.contains(':') || component == "localhost"
}

fn check_tag(tag: &str) -> Result<(), String> {
    let mut chars = tag.chars();
    let valid_first = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    let valid_rest = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !valid_first || !valid_rest || tag.len() > 128 {
        return Err(format!(
            "invalid tag `{tag}`: a tag is 1 to 128 letters, digits, `_`, `.` or `-`, and does not start with `.` or `-`"
        ));
    }
    Ok(())
}

fn check_domain(domain: &str) -> Result<(), String> {
    let (host, port) = match domain.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (domain, None),
    };
    if let Some(port) = port {
        if port.is_empty() || !port.chars().all(|c| c.is_ascii_digit()) {
            return Err(format!("invalid registry port `{port}`"));
        }
    }
    for label in host.split('.') {
        let valid = !label.is_empty()
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !valid {
            return Err(format!("invalid registry host `{host}`"));
        }
    }
    Ok(())
}

/// Checks a path component: lowercase alphanumeric runs joined by `.`, `_`,
/// `__` or one or more `-`.
fn check_path_component(component: &str) -> Result<(), String> {
    let invalid = || {
        format!(
            "invalid repository name component `{component}`: use lowercase letters and digits, \
             joined by `.`, `_`, `__` or `-`"
        )
    };
    if component.is_empty() {
        return Err("the repository name has an empty component".to_string());
    }

    let bytes = component.as_bytes();
    let is_alphanumeric = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !is_alphanumeric(bytes[0]) || !is_alphanumeric(bytes[bytes.len() - 1]) {
        return Err(invalid());
    }

    let mut index = 0;
    while index < bytes.len() {
        if is_alphanumeric(bytes[index]) {
            index += 1;
            continue;
        }
        let start = index;
        while index < bytes.len() && !is_alphanumeric(bytes[index]) {
            index += 1;
        }
        let separator = &component[start..index];
        let valid = matches!(separator, "." | "_" | "__") || separator.bytes().all(|b| b == b'-');
        if !valid {
            return Err(invalid());
        }
    }
    Ok(())
}

/// Checks a container, volume or network name against the pattern the
/// engine enforces for container and volume names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn check_engine_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let valid_first = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let valid_rest = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !valid_first || !valid_rest || name.len() < 2 {
        return Err(format!(
            "invalid name `{name}`: use at least 2 characters from letters, digits, `_`, `.` and `-`, starting with a letter or digit"
        ));
    }
    Ok(())
}

/// Checks a project name: lowercase letters, digits, `_` and `-`, starting
/// with a letter or digit (the rule docker compose applies to project names).
pub fn check_project_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let is_allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let valid_first = chars.next().is_some_and(is_allowed);
    let valid_rest = chars.all(|c| is_allowed(c) || matches!(c, '_' | '-'));
    if !valid_first || !valid_rest {
        return Err(format!(
            "invalid project name `{name}`: use lowercase letters, digits, `_` and `-`, starting with a letter or digit"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_reference_accepts_valid() {
        // Forms accepted by `docker tag` (Docker 20.10).
        for reference in [
            "etl_app:latest",
            "ml_app:latest",
            "ml_app",
            "library/ubuntu:22.04",
            "localhost:5000/team/app:v1.2-rc_3",
            "registry.example.com/a/b",
            "a__b.c--d:TAG_1",
        ] {
            assert_eq!(check_image_reference(reference), Ok(()), "{reference}");
        }
    }

    #[test]
    fn image_reference_rejects_invalid() {
        for reference in [
            "",
            "ETL_app:latest",
            "etl_app:",
            "etl_app:-x",
            "etl app:latest",
            "etl__-app",
            "_etl:latest",
            "etl_:latest",
            "etl//app",
            "etl@sha256:0000",
            "host:port/app",
        ] {
            assert!(check_image_reference(reference).is_err(), "{reference}");
        }
        let long_tag = format!("app:{}", "a".repeat(129));
        assert!(check_image_reference(&long_tag).is_err());
    }

    #[test]
    fn engine_name_pattern() {
        assert_eq!(check_engine_name("ml-api"), Ok(()));
        assert_eq!(check_engine_name("mlops_model.store"), Ok(()));
        assert!(check_engine_name("a").is_err());
        assert!(check_engine_name("-api").is_err());
        assert!(check_engine_name("ml api").is_err());
        assert!(check_engine_name("ml/api").is_err());
    }

    #[test]
    fn project_name_pattern() {
        assert_eq!(check_project_name("mlops"), Ok(()));
        assert_eq!(check_project_name("mlops-e2e_1"), Ok(()));
        assert!(check_project_name("MLOps").is_err());
        assert!(check_project_name("").is_err());
        assert!(check_project_name("-x").is_err());
    }
}
