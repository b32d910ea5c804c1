//! Benchmark ceiling: a warp server whose `POST /predict` reads the request
//! body and returns a constant JSON body of the same shape as the real
//! service's response, without parsing the body or reading a model.
//!
//! Usage: `constant_server [ADDR] [--ignore-body]` (default address
//! 127.0.0.1:8001). With `--ignore-body` the handler replies without reading
//! the body, which leaves hyper to discard it after the response. That shows
//! what receiving a body costs, but no real `POST` handler can skip it.

use warp::Filter;

const BODY: &str = r#"{"prediction":0,"label":"setosa","probabilities":[0.9794,0.0206,0.0000],"model_version":"000000000000"}"#;

#[tokio::main]
async fn main() {
    let mut addr = "127.0.0.1:8001".to_owned();
    let mut ignore_body = false;
    for argument in std::env::args().skip(1) {
        if argument == "--ignore-body" {
            ignore_body = true;
        } else {
            addr = argument;
        }
    }
    let addr: std::net::SocketAddr = addr.parse().expect("the argument is an IP:PORT address");

    let reply = || warp::reply::with_header(BODY, "content-type", "application/json");
    let predict = warp::path!("predict").and(warp::post());
    if ignore_body {
        warp::serve(predict.map(reply)).run(addr).await;
    } else {
        let reading = predict
            .and(warp::body::bytes())
            .map(move |_body: bytes::Bytes| reply());
        warp::serve(reading).run(addr).await;
    }
}
