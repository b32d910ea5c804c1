//! Parity between the Terraform configuration in `terraform/` and `infra.toml`.
//!
//! Users who deploy with `terraform apply` must get the stack that
//! `orchestrator up` builds, so every value the two files share has to stay
//! equal. This test parses the `.tf` files with hcl-rs and evaluates the
//! attributes that describe the stack as Terraform would: variables take
//! their defaults, `path.module` is the `terraform/` directory and locals are
//! resolved. It then compares them with the stack that `spec::load` reads
//! from `infra.toml`, resource by resource, and each difference names the
//! Terraform resource and the attribute.
//!
//! Settings the kreuzwerker/docker provider cannot express (PID limits, the
//! ETL timeout, rerunning the ETL when its output is missing) are listed in
//! comments at the resources in `main.tf` and are not compared here.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use hcl::eval::{Context, Evaluate, FuncArgs, FuncDef, ParamType};
use hcl::expr::{BinaryOperator, Operation, TraversalOperator};
use hcl::{Block, Expression, Value};
use orchestrator::context::{BuildContext, EntryKind};
use orchestrator::labels;
use orchestrator::spec::{
    self, BuildStep, ContainerKind, ContainerSpec, ImageSpec, NetworkSpec, Protocol, RestartPolicy,
    Stack, VolumeSpec,
};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the orchestrator crate lives one level below the repository root")
        .to_path_buf()
}

fn terraform_dir() -> PathBuf {
    repo_root().join("terraform")
}

/// Shown in place of a value that the `.tf` files do not set.
const NOT_SET: &str = "(not set)";

// ---------------------------------------------------------------------------
// Reading the Terraform configuration
// ---------------------------------------------------------------------------

/// The `.tf` files of one Terraform module, with its variables and locals
/// evaluated.
struct TerraformModule {
    /// `resource "TYPE" "NAME"` blocks by address (`TYPE.NAME`), in file order.
    resources: Vec<(String, Block)>,
    context: Context<'static>,
}

impl TerraformModule {
    /// Reads every `.tf` file in `dir`.
    fn load(dir: &Path) -> Result<Self, String> {
        let mut files = Vec::new();
        let entries = fs::read_dir(dir).map_err(|err| format!("{}: {err}", dir.display()))?;
        for entry in entries {
            let path = entry.map_err(|err| err.to_string())?.path();
            if path.extension().is_some_and(|ext| ext == "tf") {
                let text = fs::read_to_string(&path)
                    .map_err(|err| format!("{}: {err}", path.display()))?;
                files.push((path, text));
            }
        }
        files.sort();
        Self::from_files(dir, &files)
    }

    /// Parses `files` as the module that lives in `module_dir`, which is what
    /// `path.module` evaluates to.
    fn from_files(module_dir: &Path, files: &[(PathBuf, String)]) -> Result<Self, String> {
        let mut variables = hcl::Map::new();
        let mut locals = Vec::new();
        let mut resources = Vec::new();

        for (path, text) in files {
            let body = hcl::parse(text).map_err(|err| format!("{}: {err}", path.display()))?;
            for block in body.into_blocks() {
                let labels: Vec<&str> = block.labels().iter().map(|label| label.as_str()).collect();
                match (block.identifier(), labels.as_slice()) {
                    ("variable", [name]) => {
                        let default = match attribute(&block, "default") {
                            Some(expr) => expr
                                .evaluate(&Context::new())
                                .map_err(|err| format!("variable {name}: default: {err}"))?,
                            None => Value::Null,
                        };
                        variables.insert((*name).to_owned(), default);
                    }
                    ("locals", []) => {
                        for attr in block.body().attributes() {
                            locals.push((attr.key().to_owned(), attr.expr().clone()));
                        }
                    }
                    ("resource", [kind, name]) => {
                        resources.push((format!("{kind}.{name}"), block.clone()));
                    }
                    _ => {}
                }
            }
        }

        let context = evaluation_context(module_dir, variables, &locals);
        Ok(TerraformModule { resources, context })
    }

    fn resource(&self, address: &str) -> Option<&Block> {
        self.resources
            .iter()
            .find(|(candidate, _)| candidate == address)
            .map(|(_, block)| block)
    }

    fn resources_of_type<'a>(
        &'a self,
        kind: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a Block)> {
        let prefix = format!("{kind}.");
        self.resources
            .iter()
            .filter(move |(address, _)| address.starts_with(&prefix))
            .map(|(address, block)| (address.as_str(), block))
    }

    fn evaluate(&self, expr: &Expression) -> Result<Value, String> {
        expr.evaluate(&self.context).map_err(|err| err.to_string())
    }
}

/// Declares `var`, `path`, `local` and the functions the compared attributes
/// use. Locals that need other Terraform functions (`fileset`, `filesha256`,
/// ...) stay undeclared, because no compared attribute reads them.
fn evaluation_context(
    module_dir: &Path,
    variables: hcl::Map<String, Value>,
    locals: &[(String, Expression)],
) -> Context<'static> {
    let mut context = Context::new();
    let module = module_dir.to_string_lossy().into_owned();
    let mut path = hcl::Map::new();
    for key in ["module", "root", "cwd"] {
        path.insert(key.to_owned(), Value::from(module.clone()));
    }
    context.declare_var("path", Value::Object(path));
    context.declare_var("var", Value::Object(variables));
    context.declare_func("abspath", FuncDef::new(abspath, [ParamType::String]));
    context.declare_func(
        "join",
        FuncDef::new(
            join,
            [ParamType::String, ParamType::array_of(ParamType::String)],
        ),
    );

    // Locals may refer to each other in any order, so passes repeat until
    // one resolves no further local.
    let mut resolved = hcl::Map::new();
    loop {
        let before = resolved.len();
        for (name, expr) in locals {
            if resolved.contains_key(name) {
                continue;
            }
            if let Ok(value) = expr.evaluate(&context) {
                resolved.insert(name.clone(), value);
                context.declare_var("local", Value::Object(resolved.clone()));
            }
        }
        if resolved.len() == before {
            break;
        }
    }
    context
}

/// Terraform's `abspath`: an absolute path with `.` and `..` resolved
/// lexically.
fn abspath(args: FuncArgs) -> Result<Value, String> {
    let path = args[0].as_str().ok_or("abspath expects a string")?;
    Ok(Value::from(
        clean_path(Path::new(path)).to_string_lossy().into_owned(),
    ))
}

fn join(args: FuncArgs) -> Result<Value, String> {
    let separator = args[0].as_str().ok_or("join expects a separator string")?;
    let items = args[1].as_array().ok_or("join expects a list of strings")?;
    let strings: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
    Ok(Value::from(strings.join(separator)))
}

/// Resolves `.` and `..` without touching the file system, relative to the
/// current directory when `path` is relative.
fn clean_path(path: &Path) -> PathBuf {
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .expect("the current directory is readable")
            .join(path)
    };
    let mut cleaned = PathBuf::new();
    for component in absolute.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                cleaned.pop();
            }
            other => cleaned.push(other),
        }
    }
    cleaned
}

/// Renders `path` canonicalized when it exists and lexically cleaned
/// otherwise, so that both sides render the same directory alike.
fn comparable_path(path: &Path) -> String {
    fs::canonicalize(path)
        .unwrap_or_else(|_| clean_path(path))
        .to_string_lossy()
        .into_owned()
}

fn attribute<'a>(block: &'a Block, key: &str) -> Option<&'a Expression> {
    block
        .body()
        .attributes()
        .find(|attr| attr.key() == key)
        .map(|attr| attr.expr())
}

fn nested_blocks<'a>(block: &'a Block, identifier: &'a str) -> impl Iterator<Item = &'a Block> {
    block
        .body()
        .blocks()
        .filter(move |nested| nested.identifier() == identifier)
}

/// A reference to another resource such as `docker_volume.model_store.name`.
#[derive(Debug, PartialEq, Eq)]
struct Reference {
    kind: String,
    name: String,
    attribute: Option<String>,
}

impl Reference {
    fn parse(expr: &Expression) -> Option<Self> {
        let Expression::Traversal(traversal) = expr else {
            return None;
        };
        let Expression::Variable(kind) = &traversal.expr else {
            return None;
        };
        let mut names = traversal.operators.iter().map(|operator| match operator {
            TraversalOperator::GetAttr(ident) => Some(ident.as_str().to_owned()),
            _ => None,
        });
        let name = names.next()??;
        let attribute = match names.next() {
            Some(ident) => Some(ident?),
            None => None,
        };
        if names.next().is_some() {
            return None;
        }
        Some(Reference {
            kind: kind.as_str().to_owned(),
            name,
            attribute,
        })
    }

    fn address(&self) -> String {
        format!("{}.{}", self.kind, self.name)
    }
}

// ---------------------------------------------------------------------------
// Comparing
// ---------------------------------------------------------------------------

/// One value that differs between `terraform/` and `infra.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Mismatch {
    /// Terraform resource address, e.g. `docker_container.ml_api`.
    resource: String,
    /// Attribute path inside that resource, e.g. `ports[0].external`.
    attribute: String,
    terraform: String,
    stack: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} is {} in terraform/ but {} in infra.toml",
            self.resource, self.attribute, self.terraform, self.stack
        )
    }
}

/// Collects mismatches while one resource pair is compared.
struct Comparison<'a> {
    module: &'a TerraformModule,
    mismatches: Vec<Mismatch>,
}

impl<'a> Comparison<'a> {
    fn new(module: &'a TerraformModule) -> Self {
        Comparison {
            module,
            mismatches: Vec::new(),
        }
    }

    /// Records a mismatch unless both renderings are equal.
    fn expect(&mut self, resource: &str, attribute: &str, terraform: String, stack: String) {
        if terraform != stack {
            self.mismatches.push(Mismatch {
                resource: resource.to_owned(),
                attribute: attribute.to_owned(),
                terraform,
                stack,
            });
        }
    }

    /// Evaluates `key` of `block`: `Ok(None)` when it is not set, `Err` with
    /// a description when it cannot be evaluated.
    fn value(&self, block: &Block, key: &str) -> Result<Option<Value>, String> {
        match attribute(block, key) {
            None => Ok(None),
            Some(expr) => self
                .module
                .evaluate(expr)
                .map(Some)
                .map_err(|err| format!("(cannot evaluate `{expr}`: {err})")),
        }
    }

    /// `key` of `block` rendered for comparison, `default` when it is not set.
    fn rendered(&self, block: &Block, key: &str, default: &str) -> String {
        match self.value(block, key) {
            Ok(Some(value)) => render(&value),
            Ok(None) => default.to_owned(),
            Err(err) => err,
        }
    }

    /// String values of a list or set attribute, sorted, or the reason they
    /// could not be read.
    fn string_set(&self, block: &Block, key: &str) -> Result<BTreeSet<String>, String> {
        match self.value(block, key)? {
            None => Ok(BTreeSet::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| {
                    item.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| format!("(non-string item {})", render(item)))
                })
                .collect(),
            Some(other) => Err(format!("(not a list: {})", render(&other))),
        }
    }

    /// Evaluates a map attribute (`build.label`, `environment`) into sorted pairs.
    fn string_map(&self, block: &Block, key: &str) -> Result<BTreeMap<String, String>, String> {
        match self.value(block, key)? {
            None => Ok(BTreeMap::new()),
            Some(Value::Object(map)) => map
                .iter()
                .map(|(key, value)| match value.as_str() {
                    Some(text) => Ok((key.clone(), text.to_owned())),
                    None => Err(format!("(non-string value for {key}: {})", render(value))),
                })
                .collect(),
            Some(other) => Err(format!("(not a map: {})", render(&other))),
        }
    }

    /// Collects the `labels { label = ..., value = ... }` blocks of a resource.
    fn label_blocks(&self, block: &Block) -> Result<BTreeMap<String, String>, String> {
        let mut labels = BTreeMap::new();
        for label in nested_blocks(block, "labels") {
            let key = self.value(label, "label")?;
            let value = self.value(label, "value")?;
            match (
                key.as_ref().and_then(Value::as_str),
                value.as_ref().and_then(Value::as_str),
            ) {
                (Some(key), Some(value)) => {
                    labels.insert(key.to_owned(), value.to_owned());
                }
                _ => return Err("(a labels block without string label and value)".to_owned()),
            }
        }
        Ok(labels)
    }

    /// Checks the ownership labels the orchestrator sets on every resource.
    fn expect_labels(
        &mut self,
        address: &str,
        attribute: &str,
        labels: Result<BTreeMap<String, String>, String>,
        project: &str,
        key: &str,
    ) {
        let expected = [(labels::PROJECT, project), (labels::RESOURCE, key)];
        for (label, value) in expected {
            let terraform = match &labels {
                Ok(labels) => labels.get(label).map_or(NOT_SET.to_owned(), |v| quote(v)),
                Err(err) => err.clone(),
            };
            self.expect(
                address,
                &format!("{attribute}[{label}]"),
                terraform,
                quote(value),
            );
        }
    }

    /// Resolves an attribute that must refer to a resource of `kind` and
    /// returns the referenced resource's name, or a description of what the
    /// attribute holds instead.
    fn referenced_name(&self, block: &Block, key: &str, kind: &str) -> String {
        match attribute(block, key) {
            None => NOT_SET.to_owned(),
            Some(expr) => match Reference::parse(expr) {
                Some(reference) if reference.kind == kind => reference.name,
                _ => format!("`{expr}`"),
            },
        }
    }
}

/// Renders a value the same way on both sides: strings quoted, lists in
/// brackets, numbers as written.
fn render(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(flag) => flag.to_string(),
        Value::Number(number) => number.to_string(),
        Value::String(text) => quote(text),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(render).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Object(map) => {
            let entries: Vec<String> = map
                .iter()
                .map(|(key, value)| format!("{key} = {}", render(value)))
                .collect();
            format!("{{{}}}", entries.join(", "))
        }
    }
}

fn quote(text: &str) -> String {
    format!("{text:?}")
}

fn render_list<T: AsRef<str>>(items: impl IntoIterator<Item = T>) -> String {
    let items: Vec<String> = items.into_iter().map(|item| quote(item.as_ref())).collect();
    format!("[{}]", items.join(", "))
}

fn render_map(map: &BTreeMap<String, String>) -> String {
    let entries: Vec<String> = map
        .iter()
        .map(|(key, value)| format!("{key} = {}", quote(value)))
        .collect();
    format!("{{{}}}", entries.join(", "))
}

/// Parses a Go duration as the provider reads healthcheck times (`2s`,
/// `1m30s`, `500ms`).
fn parse_go_duration(text: &str) -> Option<Duration> {
    let mut total = Duration::ZERO;
    let mut rest = text;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let amount: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let seconds_per_unit = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += Duration::from_secs_f64(amount * seconds_per_unit);
    }
    Some(total)
}

fn render_duration(duration: Duration) -> String {
    format!("{duration:?}")
}

/// Evaluates a duration attribute of a healthcheck block into the form that
/// [`render_duration`] gives.
fn duration_value(comparison: &Comparison, block: &Block, key: &str) -> String {
    match comparison.value(block, key) {
        Ok(Some(Value::String(text))) => match parse_go_duration(&text) {
            Some(duration) => render_duration(duration),
            None => format!("(invalid duration {text:?})"),
        },
        Ok(Some(other)) => format!("(not a duration: {})", render(&other)),
        // The provider's default for every healthcheck duration is 0s.
        Ok(None) => render_duration(Duration::ZERO),
        Err(err) => err,
    }
}

/// Joins a command the way `/bin/sh -c` splits it back, quoting only the
/// arguments that need it.
fn shell_join(command: &[String]) -> String {
    let words: Vec<String> = command
        .iter()
        .map(|word| {
            let plain = !word.is_empty()
                && word
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=+:,@%".contains(c));
            if plain {
                word.clone()
            } else {
                format!("'{}'", word.replace('\'', r"'\''"))
            }
        })
        .collect();
    words.join(" ")
}

/// Compares `terraform/` with `stack` and returns every difference.
fn compare(module: &TerraformModule, stack: &Stack) -> Vec<Mismatch> {
    let mut comparison = Comparison::new(module);
    for step in &stack.build_steps {
        compare_build_step(&mut comparison, step);
    }
    compare_images(&mut comparison, stack);
    compare_volumes(&mut comparison, stack);
    compare_networks(&mut comparison, stack);
    compare_containers(&mut comparison, stack);
    comparison.mismatches
}

/// Reports `address` as missing when the module has no such resource.
fn required_resource<'a>(
    comparison: &mut Comparison<'a>,
    address: &str,
    stack_description: String,
) -> Option<&'a Block> {
    let block = comparison.module.resource(address);
    if block.is_none() {
        comparison.expect(
            address,
            "(resource)",
            "missing".to_owned(),
            stack_description,
        );
    }
    block
}

/// Reports the resources of `kind` that `infra.toml` does not declare.
fn reject_extra_resources(comparison: &mut Comparison, kind: &str, expected: &BTreeSet<String>) {
    let extra: Vec<String> = comparison
        .module
        .resources_of_type(kind)
        .map(|(address, _)| address.to_owned())
        .filter(|address| !expected.contains(address))
        .collect();
    for address in extra {
        comparison.expect(
            &address,
            "(resource)",
            "declared".to_owned(),
            "absent".to_owned(),
        );
    }
}

/// Compares a build step with the `terraform_data` resource of the same
/// name. Its `local-exec` provisioner must run the step's command, and the
/// local `<name>_inputs` must list the step's inputs.
fn compare_build_step(comparison: &mut Comparison, step: &BuildStep) {
    let address = format!("terraform_data.{}", step.name);
    let description = format!("build step {}", step.name);
    let Some(block) = required_resource(comparison, &address, description) else {
        return;
    };

    let provisioners: Vec<&Block> = nested_blocks(block, "provisioner")
        .filter(|provisioner| {
            provisioner.labels().first().map(|label| label.as_str()) == Some("local-exec")
        })
        .collect();
    let [provisioner] = provisioners.as_slice() else {
        comparison.expect(
            &address,
            "provisioner \"local-exec\"",
            format!("{} blocks", provisioners.len()),
            "1 block".to_owned(),
        );
        return;
    };

    let command = comparison.rendered(provisioner, "command", NOT_SET);
    comparison.expect(
        &address,
        "command",
        command,
        quote(&shell_join(&step.command)),
    );

    let environment = comparison
        .string_map(provisioner, "environment")
        .map_or_else(|err| err, |map| render_map(&map));
    comparison.expect(&address, "environment", environment, render_map(&step.env));

    let workdir = match comparison.value(provisioner, "working_dir") {
        Ok(Some(Value::String(dir))) => comparable_path(Path::new(&dir)),
        Ok(Some(other)) => render(&other),
        Ok(None) => NOT_SET.to_owned(),
        Err(err) => err,
    };
    comparison.expect(
        &address,
        "working_dir",
        workdir,
        comparable_path(&step.workdir),
    );

    let inputs_local = format!("{}_inputs", step.name);
    let inputs = Expression::from(
        hcl::expr::Traversal::builder(hcl::expr::Variable::unchecked("local"))
            .attr(inputs_local.as_str())
            .build(),
    );
    let inputs = match comparison.module.evaluate(&inputs) {
        Ok(value) => render(&value),
        Err(_) => NOT_SET.to_owned(),
    };
    comparison.expect(
        &address,
        &format!("inputs (local.{inputs_local})"),
        inputs,
        render_list(&step.inputs),
    );
}

fn compare_images(comparison: &mut Comparison, stack: &Stack) {
    let mut expected = BTreeSet::new();
    for image in stack.images.values() {
        let address = format!("docker_image.{}", image.key);
        expected.insert(address.clone());
        let description = format!("image {}", image.tag);
        if let Some(block) = required_resource(comparison, &address, description) {
            compare_image(comparison, stack, image, &address, block);
        }
    }
    reject_extra_resources(comparison, "docker_image", &expected);
}

/// Compares an image with the `docker_image` resource named after its key.
/// Its build context must be a directory that a `terraform_data` resource
/// stages from the image's context, Dockerfile and ignore file.
fn compare_image(
    comparison: &mut Comparison,
    stack: &Stack,
    image: &ImageSpec,
    address: &str,
    block: &Block,
) {
    let name = comparison.rendered(block, "name", NOT_SET);
    comparison.expect(address, "name", name.clone(), quote(&image.tag));

    let builds: Vec<&Block> = nested_blocks(block, "build").collect();
    let [build] = builds.as_slice() else {
        comparison.expect(
            address,
            "build",
            format!("{} blocks", builds.len()),
            "1 block".to_owned(),
        );
        return;
    };

    // The provider tags the image with `name` only when `build.tag` lists it.
    let tags = comparison.string_set(build, "tag");
    let tagged = tags
        .as_ref()
        .is_ok_and(|tags| tags.iter().any(|tag| quote(tag) == name));
    if !tagged {
        comparison.expect(
            address,
            "build.tag",
            tags.map_or_else(|err| err, render_list),
            format!("a list containing name {name}"),
        );
    }

    let dockerfile = comparison.rendered(build, "dockerfile", &quote("Dockerfile"));
    comparison.expect(
        address,
        "build.dockerfile",
        dockerfile,
        quote(&image.dockerfile),
    );

    let build_args = comparison
        .string_map(build, "build_args")
        .map_or_else(|err| err, |map| render_map(&map));
    comparison.expect(
        address,
        "build.build_args",
        build_args,
        render_map(&image.build_args),
    );

    let labels = comparison.string_map(build, "label");
    comparison.expect_labels(address, "build.label", labels, &stack.project, &image.key);

    // The provider rebuilds only when `triggers` changes. Its values are
    // file hashes that this test cannot compute, so only their presence is
    // checked.
    let has_triggers = matches!(
        attribute(block, "triggers"),
        Some(Expression::Object(entries)) if !entries.is_empty()
    );
    if !has_triggers {
        comparison.expect(
            address,
            "triggers",
            NOT_SET.to_owned(),
            "a hash of the build context".to_owned(),
        );
    }

    compare_staged_context(comparison, image, address, build, block);
}

/// Finds the `terraform_data` resource whose `local-exec` provisioner stages
/// the directory `build.context` points at, and compares what it copies with
/// the image's context, Dockerfile and ignore file.
fn compare_staged_context(
    comparison: &mut Comparison,
    image: &ImageSpec,
    address: &str,
    build: &Block,
    image_block: &Block,
) {
    let context = match comparison.value(build, "context") {
        Ok(Some(Value::String(dir))) => comparable_path(Path::new(&dir)),
        Ok(Some(other)) => render(&other),
        Ok(None) => NOT_SET.to_owned(),
        Err(err) => err,
    };

    let mut stager = None;
    for (candidate, block) in comparison.module.resources_of_type("terraform_data") {
        for provisioner in nested_blocks(block, "provisioner") {
            let Ok(environment) = comparison.string_map(provisioner, "environment") else {
                continue;
            };
            let dest = environment
                .get("DEST_DIR")
                .map(|dir| comparable_path(Path::new(dir)));
            if dest.as_deref() == Some(context.as_str()) {
                stager = Some((candidate.to_owned(), block, environment));
            }
        }
    }
    let Some((stager_address, stager_block, environment)) = stager else {
        comparison.expect(
            address,
            "build.context",
            format!("{context}, staged by no terraform_data resource"),
            format!(
                "a copy of {} staged by a terraform_data resource",
                image.context.display()
            ),
        );
        return;
    };

    let source = environment
        .get("SOURCE_DIR")
        .map_or(NOT_SET.to_owned(), |dir| comparable_path(Path::new(dir)));
    comparison.expect(
        &stager_address,
        "environment.SOURCE_DIR",
        source,
        comparable_path(&image.context),
    );

    let dockerfile = environment
        .get("DOCKERFILE")
        .map_or(NOT_SET.to_owned(), |file| quote(file));
    comparison.expect(
        &stager_address,
        "environment.DOCKERFILE",
        dockerfile,
        quote(&image.dockerfile),
    );

    let ignore_file = environment
        .get("IGNORE_FILE")
        .map_or(NOT_SET.to_owned(), |file| {
            comparable_path(&image.context.join(file))
        });
    let expected_ignore_file = match &image.ignore_file {
        Some(file) => comparable_path(file),
        None => comparable_path(&image.context.join(".dockerignore")),
    };
    comparison.expect(
        &stager_address,
        "environment.IGNORE_FILE",
        ignore_file,
        expected_ignore_file,
    );

    let image_depends_on = depends_on(image_block);
    if !image_depends_on.contains(&stager_address) {
        comparison.expect(
            address,
            "depends_on",
            render_list(&image_depends_on),
            format!("a list containing {stager_address}"),
        );
    }

    let stager_depends_on = depends_on(stager_block);
    for step in &image.after_steps {
        let step_address = format!("terraform_data.{step}");
        if !stager_depends_on.contains(&step_address) {
            comparison.expect(
                &stager_address,
                "depends_on",
                render_list(&stager_depends_on),
                format!("a list containing {step_address}"),
            );
        }
    }
}

/// Addresses listed in a resource's `depends_on`.
fn depends_on(block: &Block) -> Vec<String> {
    match attribute(block, "depends_on") {
        Some(Expression::Array(items)) => items
            .iter()
            .map(|item| Reference::parse(item).map_or_else(|| format!("`{item}`"), |r| r.address()))
            .collect(),
        _ => Vec::new(),
    }
}

fn compare_volumes(comparison: &mut Comparison, stack: &Stack) {
    let mut expected = BTreeSet::new();
    for volume in stack.volumes.values() {
        let address = format!("docker_volume.{}", volume.key);
        expected.insert(address.clone());
        if let Some(block) =
            required_resource(comparison, &address, format!("volume {}", volume.name))
        {
            compare_volume(comparison, stack, volume, &address, block);
        }
    }
    reject_extra_resources(comparison, "docker_volume", &expected);
}

fn compare_volume(
    comparison: &mut Comparison,
    stack: &Stack,
    volume: &VolumeSpec,
    address: &str,
    block: &Block,
) {
    let name = comparison.rendered(block, "name", NOT_SET);
    comparison.expect(address, "name", name, quote(&volume.name));
    let labels = comparison.label_blocks(block);
    comparison.expect_labels(address, "labels", labels, &stack.project, &volume.key);
}

fn compare_networks(comparison: &mut Comparison, stack: &Stack) {
    let mut expected = BTreeSet::new();
    for network in stack.networks.values() {
        let address = format!("docker_network.{}", network.key);
        expected.insert(address.clone());
        if let Some(block) =
            required_resource(comparison, &address, format!("network {}", network.name))
        {
            compare_network(comparison, stack, network, &address, block);
        }
    }
    reject_extra_resources(comparison, "docker_network", &expected);
}

fn compare_network(
    comparison: &mut Comparison,
    stack: &Stack,
    network: &NetworkSpec,
    address: &str,
    block: &Block,
) {
    let name = comparison.rendered(block, "name", NOT_SET);
    comparison.expect(address, "name", name, quote(&network.name));
    // The provider creates a bridge network when `driver` is not set.
    let driver = comparison.rendered(block, "driver", &quote("bridge"));
    comparison.expect(address, "driver", driver, quote(&network.driver));
    let labels = comparison.label_blocks(block);
    comparison.expect_labels(address, "labels", labels, &stack.project, &network.key);
}

/// Returns the `docker_container` address for a container name, e.g.
/// `docker_container.ml_api` for `ml-api`.
fn container_address(name: &str) -> String {
    format!("docker_container.{}", name.replace(['-', '.'], "_"))
}

fn compare_containers(comparison: &mut Comparison, stack: &Stack) {
    let mut expected = BTreeSet::new();
    for container in &stack.containers {
        let address = container_address(&container.name);
        expected.insert(address.clone());
        let description = format!("container {}", container.name);
        if let Some(block) = required_resource(comparison, &address, description) {
            compare_container(comparison, stack, container, &address, block);
        }
    }
    reject_extra_resources(comparison, "docker_container", &expected);
}

fn compare_container(
    comparison: &mut Comparison,
    stack: &Stack,
    container: &ContainerSpec,
    address: &str,
    block: &Block,
) {
    let name = comparison.rendered(block, "name", NOT_SET);
    comparison.expect(address, "name", name, quote(&container.name));

    let image = comparison.referenced_name(block, "image", "docker_image");
    comparison.expect(
        address,
        "image (docker_image)",
        image,
        container.image.clone(),
    );

    compare_lifecycle(comparison, container, address, block);
    compare_dependencies(comparison, container, address, block);

    let command = match &container.command {
        Some(command) => render_list(command),
        None => NOT_SET.to_owned(),
    };
    comparison.expect(
        address,
        "command",
        comparison.rendered(block, "command", NOT_SET),
        command,
    );

    compare_env(comparison, container, address, block);
    compare_mounts(comparison, container, address, block);
    compare_networks_advanced(comparison, container, address, block);
    compare_ports(comparison, container, address, block);
    compare_security(comparison, container, address, block);
    compare_resources(comparison, container, address, block);

    let labels = comparison.label_blocks(block);
    comparison.expect_labels(address, "labels", labels, &stack.project, &container.name);
}

/// Compares how the container runs. A one-shot container runs attached to
/// completion, with a postcondition on its exit code. A service keeps
/// running, restarts by its policy and is waited on until healthy when it
/// has a healthcheck.
fn compare_lifecycle(
    comparison: &mut Comparison,
    container: &ContainerSpec,
    address: &str,
    block: &Block,
) {
    match &container.kind {
        ContainerKind::OneShot { .. } => {
            let must_run = comparison.rendered(block, "must_run", "true");
            comparison.expect(address, "must_run", must_run, "false".to_owned());
            let attach = comparison.rendered(block, "attach", "false");
            comparison.expect(address, "attach", attach, "true".to_owned());
            let restart = comparison.rendered(block, "restart", &quote("no"));
            comparison.expect(address, "restart", restart, quote("no"));
            let checked = if has_exit_code_postcondition(block) {
                "present"
            } else {
                "missing"
            };
            comparison.expect(
                address,
                "lifecycle.postcondition (self.exit_code == 0)",
                checked.to_owned(),
                "present".to_owned(),
            );
        }
        ContainerKind::Service {
            healthcheck,
            restart,
        } => {
            let must_run = comparison.rendered(block, "must_run", "true");
            comparison.expect(address, "must_run", must_run, "true".to_owned());
            compare_restart(comparison, *restart, address, block);
            compare_healthcheck(comparison, healthcheck.as_ref(), address, block);
        }
    }
}

/// True when a `lifecycle` block holds the postcondition
/// `self.exit_code == 0`.
fn has_exit_code_postcondition(block: &Block) -> bool {
    let expected_lhs = Reference {
        kind: "self".to_owned(),
        name: "exit_code".to_owned(),
        attribute: None,
    };
    nested_blocks(block, "lifecycle")
        .flat_map(|lifecycle| nested_blocks(lifecycle, "postcondition"))
        .filter_map(|postcondition| attribute(postcondition, "condition"))
        .any(|condition| match condition {
            Expression::Operation(operation) => match operation.as_ref() {
                Operation::Binary(binary) => {
                    binary.operator == BinaryOperator::Eq
                        && Reference::parse(&binary.lhs_expr).as_ref() == Some(&expected_lhs)
                        && binary.rhs_expr == Expression::from(0)
                }
                Operation::Unary(_) => false,
            },
            _ => false,
        })
}

fn compare_restart(
    comparison: &mut Comparison,
    restart: RestartPolicy,
    address: &str,
    block: &Block,
) {
    let (policy, max_retries) = match restart {
        RestartPolicy::No => ("no", None),
        RestartPolicy::OnFailure { max_retries } => ("on-failure", Some(max_retries)),
        RestartPolicy::UnlessStopped => ("unless-stopped", None),
        RestartPolicy::Always => ("always", None),
    };
    let terraform = comparison.rendered(block, "restart", &quote("no"));
    comparison.expect(address, "restart", terraform, quote(policy));
    if let Some(max_retries) = max_retries {
        let terraform = comparison.rendered(block, "max_retry_count", "0");
        comparison.expect(
            address,
            "max_retry_count",
            terraform,
            max_retries.to_string(),
        );
    }
}

fn compare_healthcheck(
    comparison: &mut Comparison,
    healthcheck: Option<&spec::Healthcheck>,
    address: &str,
    block: &Block,
) {
    let blocks: Vec<&Block> = nested_blocks(block, "healthcheck").collect();
    let wait = comparison.rendered(block, "wait", "false");
    let Some(healthcheck) = healthcheck else {
        comparison.expect(
            address,
            "healthcheck",
            format!("{} blocks", blocks.len()),
            "0 blocks".to_owned(),
        );
        comparison.expect(address, "wait", wait, "false".to_owned());
        return;
    };
    comparison.expect(address, "wait", wait, "true".to_owned());
    let [check] = blocks.as_slice() else {
        comparison.expect(
            address,
            "healthcheck",
            format!("{} blocks", blocks.len()),
            "1 block".to_owned(),
        );
        return;
    };

    // Docker's exec form: `CMD` followed by the program and its arguments.
    let mut test = vec!["CMD".to_owned()];
    test.extend(healthcheck.command.iter().cloned());
    let terraform = comparison.rendered(check, "test", NOT_SET);
    comparison.expect(address, "healthcheck.test", terraform, render_list(&test));

    let durations = [
        ("interval", healthcheck.interval),
        ("timeout", healthcheck.timeout),
        ("start_period", healthcheck.start_period),
    ];
    for (key, duration) in durations {
        let terraform = duration_value(comparison, check, key);
        comparison.expect(
            address,
            &format!("healthcheck.{key}"),
            terraform,
            render_duration(duration),
        );
    }
    let retries = comparison.rendered(check, "retries", "0");
    comparison.expect(
        address,
        "healthcheck.retries",
        retries,
        healthcheck.retries.to_string(),
    );

    // The apply must wait at least as long as Docker may take to mark the
    // container unhealthy. The provider's default `wait_timeout` is 60 s.
    let decision = healthcheck.start_period
        + (healthcheck.interval + healthcheck.timeout) * (healthcheck.retries + 1);
    let wait_timeout = match comparison.value(block, "wait_timeout") {
        Ok(Some(Value::Number(seconds))) => seconds.as_u64().map(Duration::from_secs),
        Ok(None) => Some(Duration::from_secs(60)),
        _ => None,
    };
    if wait_timeout.is_none_or(|wait| wait < decision) {
        comparison.expect(
            address,
            "wait_timeout",
            comparison.rendered(block, "wait_timeout", "60"),
            format!("at least {} seconds", decision.as_secs_f64().ceil()),
        );
    }
}

/// Compares the containers in `depends_on` with the ones the container
/// depends on in `infra.toml`.
fn compare_dependencies(
    comparison: &mut Comparison,
    container: &ContainerSpec,
    address: &str,
    block: &Block,
) {
    let listed: BTreeSet<String> = depends_on(block)
        .into_iter()
        .filter(|dependency| dependency.starts_with("docker_container."))
        .collect();
    let expected: BTreeSet<String> = container
        .depends_on
        .iter()
        .map(|name| container_address(name))
        .collect();
    comparison.expect(
        address,
        "depends_on",
        render_list(&listed),
        render_list(&expected),
    );
}

/// Compares `env`, whose entries are `KEY=VALUE` strings, key by key.
fn compare_env(
    comparison: &mut Comparison,
    container: &ContainerSpec,
    address: &str,
    block: &Block,
) {
    let entries = match comparison.string_set(block, "env") {
        Ok(entries) => entries,
        Err(err) => {
            comparison.expect(address, "env", err, render_map(&container.env));
            return;
        }
    };
    let mut env = BTreeMap::new();
    for entry in entries {
        match entry.split_once('=') {
            Some((key, value)) => {
                env.insert(key.to_owned(), value.to_owned());
            }
            None => comparison.expect(
                address,
                "env",
                quote(&entry),
                "KEY=VALUE entries".to_owned(),
            ),
        }
    }
    let keys: BTreeSet<&String> = env.keys().chain(container.env.keys()).collect();
    for key in keys {
        let terraform = env
            .get(key)
            .map_or(NOT_SET.to_owned(), |value| quote(value));
        let stack = container
            .env
            .get(key)
            .map_or(NOT_SET.to_owned(), |value| quote(value));
        comparison.expect(address, &format!("env.{key}"), terraform, stack);
    }
}

/// Compares mounts in declaration order.
fn compare_mounts(
    comparison: &mut Comparison,
    container: &ContainerSpec,
    address: &str,
    block: &Block,
) {
    let mounts: Vec<&Block> = nested_blocks(block, "mounts").collect();
    if mounts.len() != container.mounts.len() {
        comparison.expect(
            address,
            "mounts",
            format!("{} blocks", mounts.len()),
            format!("{} mounts", container.mounts.len()),
        );
        return;
    }
    for (index, (mount, expected)) in mounts.iter().zip(&container.mounts).enumerate() {
        let prefix = format!("mounts[{index}]");
        let kind = comparison.rendered(mount, "type", NOT_SET);
        comparison.expect(address, &format!("{prefix}.type"), kind, quote("volume"));
        let source = comparison.referenced_name(mount, "source", "docker_volume");
        comparison.expect(
            address,
            &format!("{prefix}.source (docker_volume)"),
            source,
            expected.volume.clone(),
        );
        let target = comparison.rendered(mount, "target", NOT_SET);
        comparison.expect(
            address,
            &format!("{prefix}.target"),
            target,
            quote(&expected.target),
        );
        let read_only = comparison.rendered(mount, "read_only", "false");
        comparison.expect(
            address,
            &format!("{prefix}.read_only"),
            read_only,
            expected.read_only.to_string(),
        );
    }
}

fn compare_networks_advanced(
    comparison: &mut Comparison,
    container: &ContainerSpec,
    address: &str,
    block: &Block,
) {
    let attached: BTreeSet<String> = nested_blocks(block, "networks_advanced")
        .map(|network| comparison.referenced_name(network, "name", "docker_network"))
        .collect();
    let expected: BTreeSet<&String> = container.networks.iter().collect();
    comparison.expect(
        address,
        "networks_advanced (docker_network)",
        render_list(&attached),
        render_list(expected),
    );
}

/// Compares ports in declaration order, with the provider's defaults
/// (`ip = "0.0.0.0"`, `protocol = "tcp"`) for unset attributes.
fn compare_ports(
    comparison: &mut Comparison,
    container: &ContainerSpec,
    address: &str,
    block: &Block,
) {
    let ports: Vec<&Block> = nested_blocks(block, "ports").collect();
    if ports.len() != container.ports.len() {
        comparison.expect(
            address,
            "ports",
            format!("{} blocks", ports.len()),
            format!("{} ports", container.ports.len()),
        );
        return;
    }
    for (index, (port, expected)) in ports.iter().zip(&container.ports).enumerate() {
        let prefix = format!("ports[{index}]");
        let internal = comparison.rendered(port, "internal", NOT_SET);
        comparison.expect(
            address,
            &format!("{prefix}.internal"),
            internal,
            expected.container_port.to_string(),
        );
        let external = comparison.rendered(port, "external", NOT_SET);
        comparison.expect(
            address,
            &format!("{prefix}.external"),
            external,
            expected.host_port.to_string(),
        );
        let ip = comparison.rendered(port, "ip", &quote("0.0.0.0"));
        comparison.expect(
            address,
            &format!("{prefix}.ip"),
            ip,
            quote(&expected.host_ip.to_string()),
        );
        let protocol = match expected.protocol {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        };
        let terraform = comparison.rendered(port, "protocol", &quote("tcp"));
        comparison.expect(
            address,
            &format!("{prefix}.protocol"),
            terraform,
            quote(protocol),
        );
    }
}

fn compare_security(
    comparison: &mut Comparison,
    container: &ContainerSpec,
    address: &str,
    block: &Block,
) {
    let security = &container.security;

    let user = comparison.rendered(block, "user", NOT_SET);
    let expected_user = security.user.as_deref().map_or(NOT_SET.to_owned(), quote);
    comparison.expect(address, "user", user, expected_user);

    let read_only = comparison.rendered(block, "read_only", "false");
    comparison.expect(
        address,
        "read_only",
        read_only,
        security.read_only_rootfs.to_string(),
    );

    let capability_blocks: Vec<&Block> = nested_blocks(block, "capabilities").collect();
    let dropped = match capability_blocks.as_slice() {
        [] => Ok(BTreeSet::new()),
        [capabilities] => comparison.string_set(capabilities, "drop"),
        _ => Err(format!("({} capabilities blocks)", capability_blocks.len())),
    };
    let drops_all = dropped
        .map(|dropped| dropped.contains("ALL").to_string())
        .unwrap_or_else(|err| err);
    comparison.expect(
        address,
        "capabilities.drop contains \"ALL\"",
        drops_all,
        security.drop_all_capabilities.to_string(),
    );

    // Docker accepts both spellings of the option.
    let no_new_privileges = comparison
        .string_set(block, "security_opts")
        .map(|options| {
            let enabled =
                options.contains("no-new-privileges") || options.contains("no-new-privileges:true");
            enabled.to_string()
        })
        .unwrap_or_else(|err| err);
    comparison.expect(
        address,
        "security_opts contains \"no-new-privileges:true\"",
        no_new_privileges,
        security.no_new_privileges.to_string(),
    );
}

/// Compares the memory limit (`memory`, in MiB) and the CPU limit (`cpus`,
/// a decimal string). The PID limit has no provider argument, so main.tf
/// lists it in a comment at the resource instead.
fn compare_resources(
    comparison: &mut Comparison,
    container: &ContainerSpec,
    address: &str,
    block: &Block,
) {
    const MIB: i64 = 1024 * 1024;
    let resources = &container.resources;

    let memory = comparison.rendered(block, "memory", NOT_SET);
    let expected_memory = match resources.memory_bytes {
        None => NOT_SET.to_owned(),
        Some(bytes) if bytes % MIB == 0 => (bytes / MIB).to_string(),
        Some(bytes) => format!("{bytes} bytes, which the provider cannot express in whole MiB"),
    };
    comparison.expect(address, "memory (MiB)", memory, expected_memory);

    let cpus = match comparison.value(block, "cpus") {
        Ok(Some(Value::String(text))) => match text.parse::<f64>() {
            Ok(cpus) => ((cpus * 1e9).round() as i64).to_string(),
            Err(_) => format!("(not a number: {text:?})"),
        },
        Ok(Some(other)) => format!("(not a string: {})", render(&other)),
        Ok(None) => NOT_SET.to_owned(),
        Err(err) => err,
    };
    let expected_cpus = resources
        .nano_cpus
        .map_or(NOT_SET.to_owned(), |nano| nano.to_string());
    comparison.expect(address, "cpus (in 1e-9 CPUs)", cpus, expected_cpus);
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

fn committed_module() -> TerraformModule {
    TerraformModule::load(&terraform_dir())
        .unwrap_or_else(|err| panic!("terraform/ does not parse: {err}"))
}

fn committed_stack() -> Stack {
    let path = repo_root().join("infra.toml");
    spec::load(&path).unwrap_or_else(|err| panic!("{} is invalid: {err}", path.display()))
}

/// Parses `infra.toml` after replacing `from` with `to`, as if the file at
/// the repository root had been edited, so relative paths resolve the same.
fn edited_stack(from: &str, to: &str) -> Stack {
    let path = repo_root().join("infra.toml");
    let text = fs::read_to_string(&path).expect("infra.toml is readable");
    assert_eq!(
        text.matches(from).count(),
        1,
        "infra.toml must contain {from:?} exactly once"
    );
    let edited = text.replace(from, to);
    spec::parse(&edited, &path).unwrap_or_else(|err| panic!("edited infra.toml is invalid: {err}"))
}

/// Loads `terraform/` after replacing `from` with `to` in main.tf, keeping
/// `path.module` at the real directory.
fn edited_module(from: &str, to: &str) -> TerraformModule {
    let dir = terraform_dir();
    let mut files = Vec::new();
    for name in ["main.tf", "variables.tf", "versions.tf", "outputs.tf"] {
        let path = dir.join(name);
        if let Ok(text) = fs::read_to_string(&path) {
            files.push((path, text));
        }
    }
    let main = files
        .iter_mut()
        .find(|(path, _)| path.ends_with("main.tf"))
        .expect("terraform/main.tf exists");
    assert_eq!(
        main.1.matches(from).count(),
        1,
        "main.tf must contain {from:?} exactly once"
    );
    main.1 = main.1.replace(from, to);
    TerraformModule::from_files(&dir, &files)
        .unwrap_or_else(|err| panic!("edited main.tf does not parse: {err}"))
}

fn describe(mismatches: &[Mismatch]) -> String {
    let lines: Vec<String> = mismatches
        .iter()
        .map(|mismatch| format!("  {mismatch}"))
        .collect();
    lines.join("\n")
}

/// Asserts that the comparison found exactly one mismatch, on `resource`
/// and `attribute`, and returns it.
fn single_mismatch(mismatches: Vec<Mismatch>, resource: &str, attribute: &str) -> Mismatch {
    assert_eq!(
        mismatches.len(),
        1,
        "expected one mismatch on {resource} {attribute}, got:\n{}",
        describe(&mismatches)
    );
    let mismatch = mismatches.into_iter().next().expect("one mismatch");
    assert_eq!(mismatch.resource, resource);
    assert_eq!(mismatch.attribute, attribute);
    mismatch
}

#[test]
fn committed_terraform_matches_infra_toml() {
    let mismatches = compare(&committed_module(), &committed_stack());
    assert!(
        mismatches.is_empty(),
        "terraform/ has drifted from infra.toml; change terraform/main.tf (or variables.tf) to match:\n{}",
        describe(&mismatches)
    );
}

#[test]
fn host_port_change_is_reported() {
    let stack = edited_stack("ports = [{ host = 8080,", "ports = [{ host = 9090,");
    let mismatch = single_mismatch(
        compare(&committed_module(), &stack),
        "docker_container.ml_api",
        "ports[0].external",
    );
    assert_eq!(mismatch.terraform, "8080");
    assert_eq!(mismatch.stack, "9090");
}

#[test]
fn bind_address_change_is_reported() {
    let stack = edited_stack("host_ip = \"127.0.0.1\"", "host_ip = \"0.0.0.0\"");
    let mismatch = single_mismatch(
        compare(&committed_module(), &stack),
        "docker_container.ml_api",
        "ports[0].ip",
    );
    assert_eq!(mismatch.terraform, "\"127.0.0.1\"");
    assert_eq!(mismatch.stack, "\"0.0.0.0\"");
}

#[test]
fn image_tag_change_is_reported() {
    let stack = edited_stack("tag = \"etl_app:latest\"", "tag = \"etl_app:v2\"");
    let mismatch = single_mismatch(
        compare(&committed_module(), &stack),
        "docker_image.etl",
        "name",
    );
    assert_eq!(mismatch.terraform, "\"etl_app:latest\"");
    assert_eq!(mismatch.stack, "\"etl_app:v2\"");
}

#[test]
fn mount_target_change_is_reported() {
    let stack = edited_stack(
        "{ volume = \"model_store\", target = \"/data\", read_only = true }",
        "{ volume = \"model_store\", target = \"/srv/model\", read_only = true }",
    );
    let mismatch = single_mismatch(
        compare(&committed_module(), &stack),
        "docker_container.ml_api",
        "mounts[0].target",
    );
    assert_eq!(mismatch.terraform, "\"/data\"");
    assert_eq!(mismatch.stack, "\"/srv/model\"");
}

#[test]
fn mount_read_only_change_is_reported() {
    let stack = edited_stack(
        "{ volume = \"model_store\", target = \"/data\", read_only = true }",
        "{ volume = \"model_store\", target = \"/data\", read_only = false }",
    );
    let mismatch = single_mismatch(
        compare(&committed_module(), &stack),
        "docker_container.ml_api",
        "mounts[0].read_only",
    );
    assert_eq!(mismatch.terraform, "true");
    assert_eq!(mismatch.stack, "false");
}

#[test]
fn env_value_change_is_reported() {
    let stack = edited_stack("RUST_LOG = \"info\"", "RUST_LOG = \"debug\"");
    let mismatch = single_mismatch(
        compare(&committed_module(), &stack),
        "docker_container.ml_api",
        "env.RUST_LOG",
    );
    assert_eq!(mismatch.terraform, "\"info\"");
    assert_eq!(mismatch.stack, "\"debug\"");
}

#[test]
fn env_variable_added_is_reported() {
    let stack = edited_stack(
        "ETL_SEED = \"42\" }",
        "ETL_SEED = \"42\", ETL_EXTRA = \"1\" }",
    );
    let mismatch = single_mismatch(
        compare(&committed_module(), &stack),
        "docker_container.etl_pipeline",
        "env.ETL_EXTRA",
    );
    assert_eq!(mismatch.terraform, NOT_SET);
    assert_eq!(mismatch.stack, "\"1\"");
}

#[test]
fn volume_name_change_is_reported() {
    let stack = edited_stack("name = \"mlops-model-store\"", "name = \"mlops-models\"");
    single_mismatch(
        compare(&committed_module(), &stack),
        "docker_volume.model_store",
        "name",
    );
}

#[test]
fn memory_change_in_main_tf_is_reported() {
    let module = edited_module("memory = 128\n", "memory = 256\n");
    let mismatch = single_mismatch(
        compare(&module, &committed_stack()),
        "docker_container.ml_api",
        "memory (MiB)",
    );
    assert_eq!(mismatch.terraform, "256");
    assert_eq!(mismatch.stack, "128");
}

#[test]
fn missing_postcondition_in_main_tf_is_reported() {
    let module = edited_module(
        "condition     = self.exit_code == 0",
        "condition     = self.exit_code >= 0",
    );
    single_mismatch(
        compare(&module, &committed_stack()),
        "docker_container.etl_pipeline",
        "lifecycle.postcondition (self.exit_code == 0)",
    );
}

#[test]
fn healthcheck_interval_in_main_tf_is_reported() {
    let module = edited_module("interval     = \"2s\"", "interval     = \"2500ms\"");
    let mismatch = single_mismatch(
        compare(&module, &committed_stack()),
        "docker_container.ml_api",
        "healthcheck.interval",
    );
    assert_eq!(mismatch.terraform, "2.5s");
    assert_eq!(mismatch.stack, "2s");
}

#[test]
fn short_wait_timeout_in_main_tf_is_reported() {
    let module = edited_module("wait_timeout = 28", "wait_timeout = 10");
    let mismatch = single_mismatch(
        compare(&module, &committed_stack()),
        "docker_container.ml_api",
        "wait_timeout",
    );
    assert_eq!(mismatch.terraform, "10");
    // start_period 2 s + (interval 2 s + timeout 2 s) * (retries 3 + 1), from infra.toml.
    assert_eq!(mismatch.stack, "at least 18 seconds");
}

/// Lists the files under `root` with their content, by `/`-separated path.
fn files_under(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).expect("staged directory is readable") {
            let path = entry.expect("staged entry is readable").path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let relative = path.strip_prefix(root).expect("entry lies under its root");
            let key = relative.to_string_lossy().into_owned();
            files.insert(key, fs::read(&path).expect("staged file is readable"));
        }
    }
    files
}

/// Builds a copy of an image's context in `root` with the Dockerfile, the
/// ignore file and every path the ignore file re-includes. A path that the
/// repository lacks, such as a binary before any build, gets placeholder
/// content. Decoys that no context may carry are added too.
fn context_fixture(image: &ImageSpec, ignore_file: &str, root: &Path) {
    let source = &image.context;
    let ignore_text =
        fs::read_to_string(source.join(ignore_file)).expect("ignore file is readable");
    let mut paths = vec![image.dockerfile.clone(), ignore_file.to_owned()];
    for line in ignore_text.lines() {
        if let Some(path) = line.trim().strip_prefix('!') {
            paths.push(path.trim_start_matches('/').to_owned());
        }
    }
    paths.push(format!("{}/decoy.rs", image.key));
    paths.push("target/release/decoy".to_owned());
    paths.push("decoy.txt".to_owned());

    for path in paths {
        let destination = root.join(&path);
        fs::create_dir_all(destination.parent().expect("a path inside the fixture"))
            .expect("fixture directory is writable");
        let content = fs::read(source.join(&path))
            .unwrap_or_else(|_| format!("placeholder for {path}").into_bytes());
        fs::write(&destination, content).expect("fixture file is writable");
    }
}

#[test]
fn staged_context_matches_orchestrator_context() {
    let stack = committed_stack();
    let script = terraform_dir().join("stage-context.sh");
    for image in stack.images.values() {
        let ignore_file = image
            .ignore_file
            .as_ref()
            .and_then(|file| file.strip_prefix(&image.context).ok())
            .map(|file| file.to_string_lossy().into_owned())
            .unwrap_or_else(|| {
                panic!(
                    "image {} needs an ignore file inside its context",
                    image.key
                )
            });
        let fixture = tempfile::tempdir().expect("temporary directory");
        let source = fixture.path().join("source");
        let staged = fixture.path().join("staged");
        context_fixture(image, &ignore_file, &source);

        let status = std::process::Command::new("sh")
            .arg(&script)
            .arg(&source)
            .arg(&image.dockerfile)
            .arg(&ignore_file)
            .arg(&staged)
            .status()
            .expect("sh runs stage-context.sh");
        assert!(
            status.success(),
            "stage-context.sh failed for image {}",
            image.key
        );

        let mut relocated = image.clone();
        relocated.context = source.clone();
        relocated.ignore_file = Some(source.join(&ignore_file));
        let context = BuildContext::collect(&relocated)
            .unwrap_or_else(|err| panic!("orchestrator context of image {}: {err}", image.key));
        let sent: BTreeMap<String, Vec<u8>> = context
            .entries
            .iter()
            .filter(|entry| matches!(entry.kind, EntryKind::File { .. }))
            .map(|entry| {
                let content = fs::read(source.join(&entry.path)).expect("context file is readable");
                (entry.path.clone(), content)
            })
            .collect();

        let staged_files = files_under(&staged);
        let staged_paths: Vec<&String> = staged_files.keys().collect();
        let sent_paths: Vec<&String> = sent.keys().collect();
        assert_eq!(staged_paths, sent_paths, "files of image {}", image.key);
        assert_eq!(staged_files, sent, "file contents of image {}", image.key);
    }
}

#[test]
fn go_durations_parse_like_the_provider() {
    // The provider reads these strings with Go's time.ParseDuration.
    assert_eq!(parse_go_duration("2s"), Some(Duration::from_secs(2)));
    assert_eq!(parse_go_duration("1m30s"), Some(Duration::from_secs(90)));
    assert_eq!(parse_go_duration("300ms"), Some(Duration::from_millis(300)));
    assert_eq!(parse_go_duration("1.5h"), Some(Duration::from_secs(5400)));
    assert_eq!(parse_go_duration("2"), None);
    assert_eq!(parse_go_duration(""), None);
}

#[test]
fn shell_join_quotes_only_special_words() {
    let command = ["cargo", "build", "-p", "etl", "a b", "it's"].map(String::from);
    assert_eq!(shell_join(&command), r"cargo build -p etl 'a b' 'it'\''s'");
}
