//! Initial workspace contents: the base workspace and the `demo` seed.

use rand::{Rng, rngs::StdRng};
use serde_json::{Map, Value, json};

use crate::state::*;
use crate::{EmulatorConfig, Seed};

const FIRST: &[&str] = &[
    "Ada", "Grace", "Alan", "Linus", "Margaret", "Ken", "Barbara", "Dennis", "Frances", "John", "Radia", "Niklaus",
    "Sophie", "Tim", "Hedy", "Guido", "Anita", "Bjarne", "Karen", "Edsger",
];
const LAST: &[&str] = &[
    "Lovelace",
    "Hopper",
    "Turing",
    "Torvalds",
    "Hamilton",
    "Thompson",
    "Liskov",
    "Ritchie",
    "Allen",
    "McCarthy",
    "Perlman",
    "Wirth",
    "Wilson",
    "Berners-Lee",
    "Lamarr",
    "Rossum",
    "Borg",
    "Stroustrup",
    "Jones",
    "Dijkstra",
];
const COMPANIES: &[&str] = &[
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Stark Industries",
    "Wayne Enterprises",
    "Wonka",
    "Tyrell",
    "Cyberdyne",
    "Soylent",
    "Vandelay",
    "Pied Piper",
    "Aperture",
    "Black Mesa",
    "Gringotts",
    "Oscorp",
    "Monarch",
    "Massive Dynamic",
    "Dunder Mifflin",
    "Prestige Worldwide",
    "Bluth Company",
    "Sterling Cooper",
    "Los Pollos",
    "Krusty Krab",
    "Planet Express",
    "Nakatomi",
    "Virtucon",
    "Duff",
    "Gekko & Co",
];
const COUNTRIES: &[(&str, &str, &str)] = &[
    ("Ireland", "Dublin", "Dublin"),
    ("United States", "California", "San Francisco"),
    ("United Kingdom", "England", "London"),
    ("Germany", "Berlin", "Berlin"),
    ("France", "Ile-de-France", "Paris"),
    ("Australia", "New South Wales", "Sydney"),
];
const TAGS: &[&str] = &["VIP", "Churn risk", "Beta", "Enterprise", "Trial", "Partner"];
const SUBJECTS: &[&str] = &[
    "Cannot log in",
    "Billing question",
    "Feature request: dark mode",
    "Export is slow",
    "How do I invite my team?",
    "Webhook not firing",
    "Refund please",
    "API rate limits",
];

/// A hex id drawn from a deterministic RNG.
pub fn hex_from(rng: &mut StdRng, ts: i64) -> String {
    let r: u64 = rng.random();
    format!("{:08x}{r:016x}", ts as u32)
}

/// A workspace with admins, teams, ticket types and states, but no customer data.
pub fn base_workspace(inner: &Inner, name: &str, region: &str, index: usize) -> Workspace {
    let now = inner.clock.now();
    let base = 1_000_000 * (index as u64 + 1);
    let id_code = {
        let t = inner.random_token("");
        t[..8].to_string()
    };
    let mut ws = Workspace {
        id_code,
        name: name.to_string(),
        region: region.to_string(),
        timezone: "Etc/UTC".to_string(),
        created_at: now - 86_400 * 365,
        next_number: base,
        next_ticket_number: 1,
        ..Default::default()
    };
    let a1 = (base + 1).to_string();
    let a2 = (base + 2).to_string();
    let a3 = (base + 3).to_string();
    let t1 = (base + 11).to_string();
    let t2 = (base + 12).to_string();
    ws.next_number = base + 100;
    ws.me_admin_id = a1.clone();
    let slug = name.to_lowercase().replace(' ', "");
    ws.admins = vec![
        Admin {
            id: a1.clone(),
            name: "Ciaran Lee".into(),
            email: format!("admin@{slug}.example.com"),
            job_title: "Support lead".into(),
            team_ids: vec![(base + 11) as i64],
            away_mode_enabled: false,
        },
        Admin {
            id: a2.clone(),
            name: "Maeve Byrne".into(),
            email: format!("maeve@{slug}.example.com"),
            job_title: "Support engineer".into(),
            team_ids: vec![(base + 11) as i64, (base + 12) as i64],
            away_mode_enabled: false,
        },
        Admin {
            id: a3.clone(),
            name: "Oisin Walsh".into(),
            email: format!("oisin@{slug}.example.com"),
            job_title: "Account manager".into(),
            team_ids: vec![(base + 12) as i64],
            away_mode_enabled: true,
        },
    ];
    ws.teams = vec![
        Team { id: t1, name: "Support".into(), admin_ids: vec![(base + 1) as i64, (base + 2) as i64] },
        Team { id: t2, name: "Success".into(), admin_ids: vec![(base + 2) as i64, (base + 3) as i64] },
    ];
    let states = [
        ("submitted", "Submitted", "Submitted"),
        ("in_progress", "In progress", "In progress"),
        ("waiting_on_customer", "Waiting on customer", "Waiting on you"),
        ("resolved", "Resolved", "Resolved"),
    ];
    let mut state_ids = Vec::new();
    for (i, (cat, internal, external)) in states.iter().enumerate() {
        let id = (base + 21 + i as u64).to_string();
        state_ids.push(id.clone());
        ws.ticket_states.push(TicketState {
            id,
            category: cat.to_string(),
            internal_label: internal.to_string(),
            external_label: external.to_string(),
        });
    }
    let attrs = |tt: u64| {
        vec![
            TicketTypeAttribute {
                id: (tt * 10 + 1).to_string(),
                name: "_default_title_".into(),
                data_type: "string".into(),
                default: true,
                required_to_create: false,
            },
            TicketTypeAttribute {
                id: (tt * 10 + 2).to_string(),
                name: "_default_description_".into(),
                data_type: "string".into(),
                default: true,
                required_to_create: false,
            },
        ]
    };
    // The three categories Intercom has, with ids 31..33 past the workspace's base.
    let kinds = [
        ("Bug report", "Customer", "🐞"),
        ("Internal follow-up", "Back-office", "📋"),
        ("Outage tracker", "Tracker", "🚨"),
    ];
    ws.ticket_types = (31..)
        .zip(kinds)
        .map(|(offset, (name, category, icon))| TicketType {
            id: (base + offset).to_string(),
            name: name.into(),
            category: category.into(),
            icon: icon.into(),
            state_ids: state_ids.clone(),
            attributes: attrs(base + offset),
            archived: false,
            created_at: ws.created_at,
            updated_at: ws.created_at,
        })
        .collect();
    ws
}

/// The world the emulator starts with for a config.
pub fn initial_world(inner: &Inner, config: &EmulatorConfig) -> World {
    let mut ws = base_workspace(inner, "Emulated Workspace", "US", 0);
    if config.seed == Some(Seed::Demo) {
        ws.id_code = "demo1234".into();
        ws.name = "Demo Workspace".into();
        demo(&mut ws, inner.clock.now());
    }
    ws.rebuild_indexes();
    let mut world = World { workspaces: vec![ws], oauth_auto_approve: true, ..Default::default() };
    world.tokens.insert(config.token.clone(), 0);
    world.oauth_clients.push(OAuthClient {
        client_id: "test-client".into(),
        client_secret: "test-secret".into(),
        redirect_uris: Vec::new(),
    });
    world
}

/// Fill a workspace with realistic, deterministic data.
pub fn demo(ws: &mut Workspace, now: i64) {
    let mut rng = seeded_rng(0x1c0_2016);
    // Id prefixes use a fixed epoch so the seed's ids do not depend on the start time.
    let fixed = |t: i64| t - now + 1_750_000_000;
    let admin_ids: Vec<String> = ws.admins.iter().map(|a| a.id.clone()).collect();
    for name in TAGS {
        let id = ws.next_number().to_string();
        ws.tags.push(Tag { id, name: name.to_string(), has_dependents: false });
    }
    ws.tags[0].has_dependents = true;
    let tag_ids: Vec<String> = ws.tags.iter().map(|t| t.id.clone()).collect();
    let mut company_ids = Vec::new();
    for (i, name) in COMPANIES.iter().enumerate() {
        let created = now - rng.random_range(30..700) * 86_400;
        let seq = ws.next_seq();
        let mut ca = Map::new();
        ca.insert("tier".into(), json!(["gold", "silver", "bronze"][i % 3].to_string()));
        let c = Company {
            id: hex_from(&mut rng, fixed(created)),
            seq,
            company_id: format!("cmp-{:04}", i + 1),
            name: name.to_string(),
            plan: Some(["Starter", "Pro", "Enterprise"][i % 3].into()),
            size: Some(rng.random_range(2..5000)),
            website: Some(format!("https://{}.example.com", name.to_lowercase().replace([' ', '&'], ""))),
            industry: Some(["Software", "Retail", "Manufacturing", "Finance"][i % 4].into()),
            monthly_spend: rng.random_range(0..20_000),
            session_count: rng.random_range(0..500),
            custom_attributes: ca,
            remote_created_at: Some(created - 86_400 * 30),
            created_at: created,
            updated_at: created + rng.random_range(0..86_400 * 20),
            last_request_at: Some(now - rng.random_range(0..86_400 * 30)),
            tag_ids: if i % 5 == 0 { vec![tag_ids[3].clone()] } else { vec![] },
            archived: false,
        };
        company_ids.push(c.id.clone());
        ws.insert_company(c);
    }
    let mut contact_ids = Vec::new();
    for i in 0..300usize {
        let first = FIRST[i % FIRST.len()];
        let last = LAST[(i / FIRST.len() + i) % LAST.len()];
        let created = now - rng.random_range(1..400) * 86_400 - rng.random_range(0..86_400);
        let user = i % 4 != 0;
        let (country, region, city) = COUNTRIES[i % COUNTRIES.len()];
        let seq = ws.next_seq();
        let mut ca = Map::new();
        ca.insert("plan_seats".into(), json!(rng.random_range(1..50)));
        ca.insert("newsletter".into(), json!(i % 3 == 0));
        let mut c = Contact {
            id: hex_from(&mut rng, fixed(created)),
            seq,
            role: if user { "user" } else { "lead" }.into(),
            external_id: user.then(|| format!("user-{:05}", i + 1)),
            email: Some(format!(
                "{}.{}{}@example.com",
                first.to_lowercase(),
                last.to_lowercase().replace(['-', ' '], ""),
                i
            )),
            phone: (i % 2 == 0).then(|| format!("+1555{:07}", i * 37 % 10_000_000)),
            name: Some(format!("{first} {last}")),
            owner_id: (i % 7 == 0).then(|| admin_ids[i % admin_ids.len()].clone()),
            unsubscribed_from_emails: i % 11 == 0,
            created_at: created,
            updated_at: created + rng.random_range(0..86_400 * 10),
            signed_up_at: user.then_some(created),
            last_seen_at: Some(now - rng.random_range(0..86_400 * 60)),
            browser: Some(["chrome", "firefox", "safari"][i % 3].into()),
            os: Some(["OS X", "Windows", "Linux", "iOS"][i % 4].into()),
            language_override: None,
            location: Location { country: Some(country.into()), region: Some(region.into()), city: Some(city.into()) },
            custom_attributes: ca,
            company_ids: if user { vec![company_ids[i % company_ids.len()].clone()] } else { vec![] },
            tags: if i % 10 == 0 {
                vec![AppliedTag {
                    tag_id: tag_ids[i % tag_ids.len()].clone(),
                    applied_at: created,
                    applied_by: Some(admin_ids[0].clone()),
                }]
            } else {
                vec![]
            },
            indexed_at: 0,
            ..Default::default()
        };
        c.updated_at = c.updated_at.min(now);
        contact_ids.push(c.id.clone());
        ws.insert_contact(c);
    }
    // Conversations (and a few tickets).
    for i in 0..120usize {
        let cid = contact_ids[(i * 7) % contact_ids.len()].clone();
        let created = now - rng.random_range(0..90) * 86_400 - rng.random_range(0..86_400);
        let id = ws.next_number();
        let seq = ws.next_seq();
        let state = ["open", "closed", "snoozed", "open"][i % 4].to_string();
        let assignee: i64 = if i % 3 == 0 { 0 } else { admin_ids[i % admin_ids.len()].parse().unwrap_or(0) };
        let subject = SUBJECTS[i % SUBJECTS.len()];
        let mut conv = Conversation {
            id: id.to_string(),
            seq,
            created_at: created,
            updated_at: created + rng.random_range(60..86_400),
            waiting_since: (state == "open").then_some(created),
            snoozed_until: (state == "snoozed").then_some(now + 86_400),
            state: state.clone(),
            read: i % 2 == 0,
            priority: if i % 9 == 0 { "high" } else { "none" }.into(),
            admin_assignee_id: assignee,
            source_type: "conversation".into(),
            source_delivered_as: "customer_initiated".into(),
            source_subject: String::new(),
            source_body: format!("<p>{subject}. Could you help?</p>"),
            source_author_type: "user".into(),
            source_author_id: cid.clone(),
            contact_ids: vec![cid.clone()],
            first_contact_reply_at: Some(created),
            tags: if i % 8 == 0 {
                vec![AppliedTag {
                    tag_id: tag_ids[1].clone(),
                    applied_at: created,
                    applied_by: Some(admin_ids[0].clone()),
                }]
            } else {
                vec![]
            },
            indexed_at: 0,
            ..Default::default()
        };
        conv.updated_at = conv.updated_at.min(now);
        if assignee != 0 {
            let pid = ws.next_number().to_string();
            conv.parts.push(Part {
                id: pid,
                part_type: "comment".into(),
                body: Some("<p>Thanks for reaching out, looking into it now.</p>".into()),
                created_at: created + 60,
                author_type: "admin".into(),
                author_id: assignee.to_string(),
                assigned_to: None,
                state: state.clone(),
            });
            conv.first_admin_reply_at = Some(created + 60);
            conv.last_admin_reply_at = Some(created + 60);
            conv.teammate_ids.push(assignee.to_string());
        }
        ws.conversations.insert(id, conv);
    }
    for i in 0..40usize {
        let cid = contact_ids[(i * 13) % contact_ids.len()].clone();
        let created = now - rng.random_range(0..60) * 86_400 - rng.random_range(0..86_400);
        let id = ws.next_number();
        let seq = ws.next_seq();
        let tt = ws.ticket_types[i % 2].clone();
        let st = tt.state_ids[i % tt.state_ids.len()].clone();
        let mut attrs = Map::new();
        attrs.insert("_default_title_".into(), Value::String(SUBJECTS[i % SUBJECTS.len()].into()));
        attrs.insert("_default_description_".into(), Value::String("Reported via the demo seed".into()));
        let number = ws.next_ticket_number;
        ws.next_ticket_number += 1;
        let t = Ticket {
            id: id.to_string(),
            seq,
            ticket_id: number.to_string(),
            ticket_type_id: tt.id.clone(),
            ticket_state_id: st.clone(),
            attributes: attrs,
            contact_ids: vec![cid],
            admin_assignee_id: if i % 2 == 0 { admin_ids[0].parse().unwrap_or(0) } else { 0 },
            created_at: created,
            updated_at: (created + rng.random_range(60..86_400)).min(now),
            open: ws.ticket_state(&st).map(|s| s.category != "resolved").unwrap_or(true),
            ..Default::default()
        };
        ws.tickets.insert(id, t);
    }
    // Data events for the first few users.
    for (i, cid) in contact_ids.iter().take(20).enumerate() {
        let id = ws.next_number().to_string();
        ws.events.push(DataEvent {
            id,
            event_name: ["invited-friend", "upgraded-plan", "exported-report"][i % 3].into(),
            created_at: now - (i as i64 + 1) * 3600,
            contact_id: cid.clone(),
            metadata: Map::new(),
        });
    }
}
