//! Benchmark ceiling: a warp server whose `POST /predict` returns a constant
//! JSON body of the same shape as the real service's response, without
//! reading a model. Usage: `constant_server [ADDR]` (default 127.0.0.1:8001).

use warp::Filter;

const BODY: &str = r#"{"prediction":0,"label":"setosa","probabilities":[0.9794,0.0206,0.0000],"model_version":"000000000000"}"#;

#[tokio::main]
async fn main() {
    let addr: std::net::SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8001".to_owned())
        .parse()
        .expect("the argument is an IP:PORT address");
    let route = warp::path!("predict")
        .and(warp::post())
        .map(|| warp::reply::with_header(BODY, "content-type", "application/json"));
    warp::serve(route).run(addr).await;
}
