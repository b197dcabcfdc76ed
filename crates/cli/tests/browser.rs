//! The review queue in a real browser: headless Chromium driven over WebDriver (chromedriver),
//! in front of the real `doublecheck serve` process, with a real SMTP client and a real SMTP
//! upstream (a sink on a local socket).
//!
//! The story of issue 5: the group email that asked customers for their driver's licenses is
//! sent through the gate's SMTP listener and held. The sender (an agent) sees it and why, but
//! no decision buttons. A reviewer signs in (after one wrong password), opens the queue and the
//! message, chooses fix and release → explode with a justification, and the outcome page says
//! it was released. At the sink, each customer got a separate copy with only their own address
//! in To; no copy carried the whole list.
//!
//! Screenshots of the sign-in page, the queue and the message page at desktop (1280×800) and
//! phone (390×844) widths go to `target/test-artifacts/browser/`. Every page is checked with
//! axe-core; a violation of impact `serious` or `critical` fails the test.
//!
//! Needs Chromium, chromedriver and axe-core: `scripts/test-browser` installs them and runs
//! this test (it is ignored in a plain `cargo test`). Paths can be set with `CHROMIUM`,
//! `CHROMEDRIVER` and `AXE_JS`.

use fantoccini::Locator;
use std::process::Stdio;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const INCIDENT: &str = include_str!("../../../examples/incident.eml");
const SENDER: &str = "care@phoneco.example";
const CUSTOMERS: [&str; 6] = [
    "maria.garcia@gmail.com",
    "j.smith1987@yahoo.com",
    "tomwilson@hotmail.com",
    "li.wei@outlook.com",
    "sam.okafor@icloud.com",
    "ana.souza@aol.com",
];
const REVIEWER: &str = "rev@phoneco.example";
const REVIEWER_PASSWORD: &str = "reviewer password 42";
const AGENT_PASSWORD: &str = "agent password 4242";

/// Holds a group request for sensitive documents (the built-in policy rejects it outright);
/// a copy to one customer alone passes, so explode is a fix that works.
const POLICY: &str = r#"
defaults = false
org_domains = ["phoneco.example"]

[[rules]]
name = "group request for sensitive documents"
if_all = ["content.solicits_sensitive"]
if_any = ["recipients.exposed", "recipients.reply_fanout"]
recipients = "external"
action = "hold"
reason = "This message asks a group of customers to send sensitive documents by email, and their replies would reach each other."
"#;

mod support;

use support::*;

// ------------------------------------------------------------------ the story

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium: run scripts/test-browser"]
async fn reviewer_explodes_the_incident_in_chromium() {
    let started = Instant::now();
    let tools = tools();

    // The gate: the SMTP relay in front of the sink, the review queue on the HTTP listener.
    let dir = std::env::temp_dir().join(format!("doublecheck-browser-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let (upstream, got) = sink();
    let (smtp, http) = (free_port(), free_port());
    std::fs::write(dir.join("policy.toml"), POLICY).expect("policy");
    std::fs::write(
        dir.join("doublecheck.toml"),
        format!(
            "data_dir = {data:?}\npolicy = {policy:?}\n\
             [http]\nlisten = \"127.0.0.1:{http}\"\n\
             [smtp]\nlisten = \"127.0.0.1:{smtp}\"\nupstream = \"127.0.0.1:{upstream}\"\n\
             [milter]\nenabled = false\n",
            data = dir.join("data").display().to_string(),
            policy = dir.join("policy.toml").display().to_string(),
        ),
    )
    .expect("config");
    let config = dir.join("doublecheck.toml");
    let config = config.to_str().expect("utf-8 path");
    run_with_stdin(
        &dir,
        &[
            "user", "add", REVIEWER, "--role", "reviewer", "--config", config,
        ],
        &format!("{REVIEWER_PASSWORD}\n"),
    );
    run_with_stdin(
        &dir,
        &["user", "add", SENDER, "--role", "agent", "--config", config],
        &format!("{AGENT_PASSWORD}\n"),
    );
    let mut server = Proc(
        bin()
            .args(["serve", "--config", config])
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start doublecheck serve"),
    );
    wait_listening(smtp, "doublecheck serve (SMTP)", &mut server.0);
    wait_listening(http, "doublecheck serve (HTTP)", &mut server.0);

    // The incident, through the real SMTP listener: held, nothing delivered.
    let reply = send(smtp, SENDER, &CUSTOMERS, INCIDENT);
    assert!(
        reply.starts_with("250") && reply.contains("hold_"),
        "the incident message should be held: {reply}"
    );
    let id = reply
        .split_whitespace()
        .find(|w| w.starts_with("hold_"))
        .expect("hold id")
        .trim_end_matches(['.', ')', ','])
        .to_string();
    let delivered = |got: &Mutex<Vec<Received>>| -> Vec<Received> {
        got.lock()
            .expect("lock")
            .iter()
            .filter(|m| !m.is_notice())
            .cloned()
            .collect()
    };
    assert!(
        delivered(&got).is_empty(),
        "a held message must not reach the upstream"
    );

    // Chromium, through chromedriver.
    let (driver, mut b) = launch(tools, &dir, format!("http://127.0.0.1:{http}"), DESKTOP).await;
    println!(
        "browser ready after {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // Signed out, the queue sends the browser to the sign-in page.
    b.goto("/holds").await;
    let p = b.path().await;
    assert!(p.starts_with("/login"), "signed out, /holds → {p}");
    b.shot("login", "desktop", DESKTOP).await;
    b.shot("login", "phone", PHONE).await;
    b.axe("sign-in page").await;
    b.axe_self_check().await;
    b.viewport(DESKTOP).await;

    // A wrong password: an error, still signed out.
    b.sign_in(REVIEWER, "not the password").await;
    let err = b.text_of("[role=alert]").await;
    assert!(
        err.contains("Wrong email or password"),
        "the sign-in error: {err}"
    );
    assert!(b.path().await.starts_with("/login"));
    assert!(!b.has("a[href='/logout']").await, "not signed in");
    b.axe("sign-in page with an error").await;

    // The sender (an agent) sees the held message and why, but cannot decide on it.
    b.sign_in(SENDER, AGENT_PASSWORD).await;
    assert_eq!(b.path().await, "/holds", "signed in as the agent");
    assert!(
        b.has(&format!("a[href='/holds/{id}']")).await,
        "the agent's queue lists their held message:\n{}",
        b.main_text().await
    );
    b.click_to_page(&format!("a[href='/holds/{id}']")).await;
    assert_eq!(b.path().await, format!("/holds/{id}"));
    assert!(b.text_of("h1").await.contains(&id));
    assert!(
        b.main_text().await.contains("content.solicits_sensitive"),
        "the agent sees why it was held"
    );
    for action in ["approve", "fix", "reject", "reassign"] {
        assert!(
            !b.has(&format!("form[action$='/{action}']")).await,
            "an agent must not see the {action} form"
        );
    }
    assert!(!b.has("#act-title").await, "no Decide section for an agent");
    b.axe("message page (agent)").await;
    b.sign_out().await;

    // The reviewer signs in (with the keyboard) and opens the queue.
    b.sign_in_by_keyboard(REVIEWER, REVIEWER_PASSWORD).await;
    assert_eq!(b.path().await, "/holds", "signed in as the reviewer");
    assert!(
        b.text_of(".who").await.contains(REVIEWER),
        "the header names who is signed in"
    );
    let row = format!("a[href='/holds/{id}']");
    assert!(
        b.has(&row).await,
        "the queue lists the held message:\n{}",
        b.main_text().await
    );
    b.shot("queue", "desktop", DESKTOP).await;
    b.axe("queue").await;
    b.shot("queue", "phone", PHONE).await;
    b.axe("queue (phone)").await;
    b.viewport(DESKTOP).await;

    // The message page: why it was held, the recipients, and the decisions.
    b.click_to_page(&row).await;
    assert_eq!(b.path().await, format!("/holds/{id}"));
    let text = b.main_text().await;
    assert!(text.contains("content.solicits_sensitive"), "{text}");
    assert!(text.contains("asks a group of customers"), "{text}");
    for customer in CUSTOMERS {
        assert!(text.contains(customer), "the recipients: {customer}");
    }
    for action in ["approve", "fix", "reject"] {
        assert!(
            b.has(&format!("form[action='/holds/{id}/{action}']")).await,
            "a reviewer sees the {action} form"
        );
    }
    b.shot("message", "desktop", DESKTOP).await;
    b.axe("message page (reviewer)").await;
    b.shot("message", "phone", PHONE).await;
    b.axe("message page (reviewer, phone)").await;
    // The decision forms, scrolled into view on a phone.
    b.c.execute(
        "document.getElementById('act-title').scrollIntoView();",
        vec![],
    )
    .await
    .expect("scroll");
    b.shot("message-decide", "phone", PHONE).await;
    b.viewport(DESKTOP).await;

    // Fix and release → explode, with a justification.
    b.click("#fx-exp").await;
    assert!(
        b.c.find(Locator::Css("#fx-exp"))
            .await
            .expect("radio")
            .is_selected()
            .await
            .expect("selected"),
        "explode is chosen"
    );
    b.fill(
        "#f-just",
        "Group email: each customer gets their own copy; replies go only to us.",
    )
    .await;
    b.click_to_page(&format!(
        "form[action='/holds/{id}/fix'] button[type=submit]"
    ))
    .await;

    // The outcome page.
    let p = b.path().await;
    assert_eq!(
        p,
        format!("/holds/{id}?done=fixed"),
        "after fix and release; the page says:\n{}",
        b.main_text().await
    );
    let flash = b.text_of(".flash[role=status]").await;
    assert!(flash.contains("Fixed and released"), "{flash}");
    assert_eq!(b.text_of("h1 .status").await.trim(), "released");
    let text = b.main_text().await;
    assert!(text.contains(&format!("explode by {REVIEWER}")), "{text}");
    assert!(!b.has(&format!("form[action='/holds/{id}/approve']")).await);
    b.shot("outcome", "desktop", DESKTOP).await;
    b.shot("outcome", "phone", PHONE).await;
    b.axe("outcome page").await;
    b.viewport(DESKTOP).await;

    // At the upstream: one copy per customer, each with only that customer in To.
    wait_until("six copies at the upstream", || {
        let n = delivered(&got).len();
        async move { n >= CUSTOMERS.len() }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let copies = delivered(&got);
    assert_eq!(copies.len(), CUSTOMERS.len(), "one copy per recipient");
    let mut seen: Vec<String> = Vec::new();
    for m in &copies {
        assert_eq!(
            m.rcpts.len(),
            1,
            "one envelope recipient per copy: {:?}",
            m.rcpts
        );
        let rcpt = &m.rcpts[0];
        let to = m.header("To").expect("a To field").to_ascii_lowercase();
        assert!(to.contains(rcpt.as_str()), "To: {to} for {rcpt}");
        for other in CUSTOMERS.iter().filter(|c| *c != rcpt) {
            assert!(
                !m.data.to_ascii_lowercase().contains(other),
                "the copy for {rcpt} mentions {other}"
            );
        }
        assert!(m.header("Cc").is_none(), "no Cc on the copy for {rcpt}");
        assert!(m.data.contains("driver's license"), "the message itself");
        seen.push(rcpt.clone());
    }
    seen.sort();
    let mut want: Vec<String> = CUSTOMERS.iter().map(|c| c.to_string()).collect();
    want.sort();
    assert_eq!(seen, want, "every customer got exactly one copy");
    // Nothing that went to a customer (notices included) listed another customer.
    for m in got.lock().expect("lock").iter() {
        if !m.rcpts.iter().any(|r| CUSTOMERS.contains(&r.as_str())) {
            continue;
        }
        let listed = CUSTOMERS
            .iter()
            .filter(|c| m.data.to_ascii_lowercase().contains(*c))
            .count();
        assert!(
            listed <= 1,
            "a message to {:?} lists {listed} customers",
            m.rcpts
        );
    }

    // The sender sees the outcome.
    b.sign_out().await;
    b.sign_in(SENDER, AGENT_PASSWORD).await;
    b.goto(&format!("/holds/{id}")).await;
    assert_eq!(b.text_of("h1 .status").await.trim(), "released");
    assert!(
        b.main_text()
            .await
            .contains(&format!("explode by {REVIEWER}"))
    );

    let _ = b.c.clone().close().await;
    drop(driver);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);

    for p in &b.saved {
        println!("screenshot: {}", p.display());
    }
    assert!(
        b.a11y.is_empty(),
        "serious or critical accessibility violations (axe-core):\n{}",
        b.a11y.join("\n")
    );
    println!(
        "browser test done in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
