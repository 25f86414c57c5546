//! The `mercato` binary: `serve`, `worker`, `migrate`, `export-schema`, `dev`.

use clap::{Parser, Subcommand};
use mercato::config::ConfigArgs;
use mercato::error::AppError;
use secrecy::SecretString;
use std::path::PathBuf;
use std::process::ExitCode;

// glibc's malloc spent a third of the CPU of a catalog page under load (bench/, perf); mimalloc's
// per-thread heaps do not contend.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "mercato", version, about = "Multi-marketplace seller API")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve GraphQL over HTTP and WebSocket.
    Serve(ConfigArgs),
    /// Run the background worker.
    Worker(ConfigArgs),
    /// Apply pending migrations (as the owner role), or roll back.
    Migrate {
        /// Owner-role database URL.
        #[arg(long, env = "MERCATO_MIGRATION_DATABASE_URL", hide_env_values = true)]
        database_url: String,
        /// Roll back this many migrations instead of applying.
        #[arg(long)]
        down: Option<u32>,
    },
    /// Print the GraphQL schema (SDL), or write it to a file.
    ExportSchema {
        /// Write here instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Quick start: migrate, seed the demo organization, then serve and run the worker (and the
    /// marketplace simulator on MERCATO_SIMULATOR_LISTEN).
    Dev(ConfigArgs),
    /// Serve the marketplace simulator (Shopee, TikTok Shop, Lazada, Jumia) for local work.
    Simulator(SimulatorArgs),
}

#[derive(clap::Args, Debug)]
struct SimulatorArgs {
    /// Where to listen.
    #[arg(
        long,
        env = "MERCATO_SIMULATOR_LISTEN",
        default_value = "127.0.0.1:8090"
    )]
    listen: std::net::SocketAddr,
    /// Seed of the generated catalogs and orders.
    #[arg(long, env = "MERCATO_SIMULATOR_SEED", default_value_t = 42)]
    seed: u64,
}

/// Starts the simulator and prints where each platform is and its demo app credentials.
async fn start_simulator(args: &SimulatorArgs) -> Result<connectors::simulator::Running, AppError> {
    let config = connectors::simulator::SimConfig {
        seed: args.seed,
        // The demo behaves as the platforms do: over their rate limits, calls are throttled.
        rate_limits: connectors::simulator::SimConfig::published_limits(),
        ..Default::default()
    };
    let running = connectors::simulator::Simulator::new(config)
        .start(args.listen)
        .await
        .map_err(|e| AppError::internal(format!("simulator on {}: {e}", args.listen)))?;
    let c = running.sim.config();
    println!(
        "  Marketplace simulator: {} (strict signatures)",
        running.base_url
    );
    println!(
        "    Shopee   {}  partner_id {}  partner_key {}  shop_id {}",
        running.shopee().api,
        c.shopee.0,
        c.shopee.1,
        c.shopee.2
    );
    println!(
        "    TikTok   {}  app_key {}  app_secret {}",
        running.tiktok().api,
        c.tiktok.0,
        c.tiktok.1
    );
    println!(
        "    Lazada   {}  app_key {}  app_secret {}",
        running.lazada().api,
        c.lazada.0,
        c.lazada.1
    );
    println!(
        "    Jumia    {}  client_id {}  self-auth refresh token {}",
        running.jumia().api,
        c.jumia.0,
        c.jumia.2
    );
    println!(
        "    Faults:  POST {}/_sim/faults {{\"platform\":\"Shopee\",\"faults\":[{{\"kind\":\"rate_limit\",\"retry_after_secs\":5}}]}}",
        running.base_url
    );
    Ok(running)
}

fn fail(context: &str, e: AppError) -> ExitCode {
    let detail = match &e {
        AppError::Internal(d) => d.clone(),
        other => other.public_message(),
    };
    eprintln!("mercato: {context}: {detail}");
    ExitCode::FAILURE
}

async fn run_dev(mut args: ConfigArgs) -> Result<(), AppError> {
    let sim_args = SimulatorArgs {
        listen: std::env::var("MERCATO_SIMULATOR_LISTEN")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| std::net::SocketAddr::from(([127, 0, 0, 1], 8090))),
        seed: 42,
    };
    // Platforms without an app of their own configured use the simulator's demo apps.
    if args.marketplaces.simulator_url.is_none() {
        args.marketplaces.simulator_url = Some(format!("http://{}", sim_args.listen));
    }
    let config = args.validate().map_err(AppError::from_error)?;
    let owner = config
        .migration_database_url
        .clone()
        .ok_or_else(|| AppError::internal("dev needs MERCATO_MIGRATION_DATABASE_URL to migrate"))?;
    mercato::migrate_up(&owner).await?;
    let state = mercato::build_state(config).await?;
    let seeded = mercato::seed::seed_demo(&state).await?;
    let listener = tokio::net::TcpListener::bind(state.config.listen)
        .await
        .map_err(AppError::from_error)?;
    let addr = listener.local_addr().map_err(AppError::from_error)?;
    let public = state.config.marketplaces.public_url.clone();
    println!("\nMercato is running.");
    println!("  GraphiQL:  http://{addr}/graphql");
    println!("  WebSocket: ws://{addr}/graphql/ws");
    println!(
        "  Demo organization \"Demo Traders\" ({}):",
        if seeded == mercato::seed::Seeded::Created {
            "created"
        } else {
            "already present"
        }
    );
    println!(
        "    owner:   {} / {}",
        mercato::seed::OWNER_EMAIL,
        mercato::seed::OWNER_PASSWORD
    );
    println!(
        "    manager: {} / {} (Nairobi branch only)",
        mercato::seed::MEMBER_EMAIL,
        mercato::seed::MEMBER_PASSWORD
    );
    println!("  Log in with the logIn mutation, then send: Authorization: Bearer <accessToken>");
    // The simulator is a convenience: if its port is taken, say so and go on.
    let simulator = match start_simulator(&sim_args).await {
        Ok(r) => Some(r),
        Err(e) => {
            let detail = match &e {
                AppError::Internal(d) => d.clone(),
                other => other.public_message(),
            };
            eprintln!("  (marketplace simulator not started: {detail})");
            None
        }
    };
    let (tx, rx) = tokio::sync::watch::channel(false);
    let worker_state = state.clone();
    let mut worker_rx = rx.clone();
    let worker = tokio::spawn(async move {
        mercato::jobs::run_worker(worker_state, async move {
            let _ = worker_rx.wait_for(|stop| *stop).await;
        })
        .await
    });
    let server = tokio::spawn(mercato::serve(
        state,
        listener,
        mercato::http::shutdown_signal(),
    ));
    if let Some(sim) = &simulator {
        // TikTok's authorization link carries no redirect: the app's registered one is used.
        sim.sim
            .set_tiktok_redirect(format!("{public}/connect/tiktok/callback"));
        println!("  Connecting the demo stores through each platform's authorization flow:");
        match mercato::seed::connect_demo_stores(&public, &sim.sim.config().jumia.2).await {
            Ok(results) => {
                for (platform, result) in results {
                    println!("    {platform:<12} {result}");
                }
            }
            Err(e) => eprintln!("    (not connected: {e})"),
        }
        println!(
            "  To connect one yourself: beginStoreConnection with returnUrl \"{public}/connect/done\", then open its authorizationUrl."
        );
        // The simulator pushes every order a buyer places, as the platforms do once an app's
        // push URL is registered.
        for (platform, path) in [
            (connectors::Platform::Shopee, "shopee"),
            (connectors::Platform::TiktokShop, "tiktok"),
            (connectors::Platform::Lazada, "lazada"),
        ] {
            sim.sim
                .subscribe(platform, format!("{public}/webhooks/{path}"));
        }
        println!(
            "  Marketplace pushes: the simulator sends new orders to {public}/webhooks/{{shopee,tiktok,lazada}}"
        );
    }
    println!();
    let served = server.await.map_err(AppError::from_error)?;
    let _ = tx.send(true);
    let worked = worker.await.map_err(AppError::from_error)?;
    served.and(worked)
}

#[tokio::main]
async fn main() -> ExitCode {
    mercato::telemetry::init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => {
            async {
                let config = args.validate().map_err(AppError::from_error)?;
                let listen = config.listen;
                let state = mercato::build_state(config).await?;
                let listener = tokio::net::TcpListener::bind(listen)
                    .await
                    .map_err(AppError::from_error)?;
                tracing::info!(%listen, "serving");
                mercato::serve(state, listener, mercato::http::shutdown_signal()).await
            }
            .await
        }
        Command::Simulator(args) => {
            async {
                let _running = start_simulator(&args).await?;
                mercato::http::shutdown_signal().await;
                Ok(())
            }
            .await
        }
        Command::Worker(args) => {
            async {
                let state =
                    mercato::build_state(args.validate().map_err(AppError::from_error)?).await?;
                mercato::jobs::run_worker(state, mercato::http::shutdown_signal()).await
            }
            .await
        }
        Command::Migrate { database_url, down } => {
            async {
                let url = SecretString::from(database_url);
                match down {
                    None => mercato::migrate_up(&url).await,
                    Some(n) => {
                        use migration::MigratorTrait as _;
                        let db = mercato::db::connect(&url, 2).await?;
                        migration::Migrator::down(&db, Some(n))
                            .await
                            .map_err(AppError::from_error)
                    }
                }
            }
            .await
        }
        Command::ExportSchema { out } => match out {
            None => {
                print!("{}", mercato::sdl());
                Ok(())
            }
            Some(path) => std::fs::write(&path, mercato::sdl()).map_err(AppError::from_error),
        },
        Command::Dev(args) => run_dev(args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail("error", e),
    }
}
