//! Compute time of one prediction: the model alone, and the whole request
//! path without HTTP (parse and validate the body, score, serialize).

use api::model_slot::LoadedModel;
use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};

#[path = "../tests/common/mod.rs"]
mod common;

fn predict(criterion: &mut Criterion) {
    let model = model_artifact::Model::from_artifact(common::trained_artifact())
        .expect("etl trains a valid model");
    let features = [5.1, 3.5, 1.4, 0.2];
    criterion.bench_function("model_predict", |bench| {
        bench.iter(|| model.predict(std::hint::black_box(&features)).unwrap())
    });

    let loaded = LoadedModel::new(model);
    let body = Bytes::from_static(common::REFERENCE_BODY.as_bytes());
    criterion.bench_function("predict_body_parse_score_serialize", |bench| {
        bench.iter(|| api::predict::predict_body(&loaded, std::hint::black_box(&body), 1000))
    });
}

criterion_group!(benches, predict);
criterion_main!(benches);
