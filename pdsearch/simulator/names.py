"""Word lists the generator draws believable names, titles and descriptions from."""

from __future__ import annotations


def _words(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(text.split()))


FIRST_NAMES: tuple[str, ...] = _words(
    """Ada Alan Grace Linus Margaret Dennis Barbara Ken Radia Edsger Frances Tim Hedy John
    Katherine Donald Annie Claude Shafi Leslie Sophie Niklaus Mary Guido Anita Bjarne Jean
    Yukihiro Karen Larry Ivan Adele Vint Lynn Bob Ruth Brian Carol Dorothy James Elena Marco
    Priya Arjun Mei Hiroshi Yuki Aiko Kenji Sakura Chen Wei Li Ming Fatima Omar Layla Yusuf
    Amara Kwame Chiamaka Tunde Zanele Thabo Ingrid Lars Astrid Bjorn Freya Sven Olga Dmitri
    Natasha Pavel Katarzyna Piotr Zofia Tomasz Lucia Mateo Valentina Diego Camila Santiago
    Isabella Gabriel Sofia Joao Beatriz Pedro Ana Luis Carmen Javier Elena Rafael Chloe Louis
    Camille Hugo Lea Lukas Hannah Felix Mia Jonas Emma Noah Olivia Liam Ava Ethan Amelia
    Oliver Charlotte Henry Harper Samuel Evelyn Daniel Abigail Matthew Emily Joseph Ella Levi
    Scarlett David Aria Wyatt Luna Jack Nora Owen Zoe Caleb Lily Isaac Hazel Nathan Aurora
    Aaron Violet Ryan Stella Adrian Maya Aisha Rohan Ananya Vikram Kavya Rahul Deepa Nikhil
    Sanjay Meera Tariq Noor Hamza Yara Karim Leila Darius Shirin Reza Parisa Kofi Ama Kojo
    Efua Niamh Cian Aoife Declan Siobhan Eilidh Callum Morag Rhys Cerys Bronwen Dylan Tane
    Aroha"""
)

LAST_NAMES: tuple[str, ...] = _words(
    """Lovelace Turing Hopper Torvalds Hamilton Ritchie Liskov Thompson Perlman Dijkstra Allen
    Berners-Lee Lamarr McCarthy Johnson Knuth Easley Shannon Goldwasser Lamport Wilson Wirth
    Shaw Rossum Borg Stroustrup Bartik Matsumoto Jones Page Sutherland Goldberg Cerf Conway
    Metcalfe Kernighan Widdowson Vaughan Gosling Smith Garcia Martinez Rossi Patel Sharma
    Nakamura Tanaka Suzuki Watanabe Yamamoto Kobayashi Wang Zhang Liu Chen Yang Huang Zhao
    Okafor Mensah Adeyemi Nkosi Dlamini Haddad Khalil Nasser Rahman Hussain Karimi Larsen
    Nilsson Andersson Johansson Hansen Virtanen Korhonen Novak Kowalski Nowak Wisniewski
    Horvath Nagy Ivanova Petrov Popescu Dubois Laurent Bernard Moreau Lefebvre Muller Schmidt
    Schneider Fischer Weber Becker Wagner Hoffmann Schulz Koch Richter Klein Wolf Neumann
    Schwarz Zimmermann Braun Kruger Hartmann Lange Silva Santos Oliveira Souza Pereira Costa
    Rodrigues Almeida Fernandes Gomes Lopez Gonzalez Hernandez Perez Sanchez Ramirez Torres
    Flores Rivera Morales Ortiz Cruz Reyes Brown Taylor Anderson Thomas Moore Jackson White
    Harris Martin Thompson Clark Lewis Robinson Walker Young King Wright Scott Green Baker
    Adams Nelson Hill Campbell Mitchell Roberts Carter Phillips Evans Turner Parker Collins
    Edwards Stewart Morris Murphy Cook Rogers Morgan Cooper Peterson Reed Bailey Bell Kelly
    Howard Ward Cox Richardson Wood Watson Brooks Bennett Gray James Hughes Price Sanders
    Myers Long Ross Foster OBrien Byrne Walsh Doyle MacLeod Fraser Campbell Jenkins Rees
    Llewellyn Ngata Parata"""
)

JOB_TITLES: tuple[str, ...] = (
    "Site Reliability Engineer",
    "Senior Site Reliability Engineer",
    "Software Engineer",
    "Senior Software Engineer",
    "Staff Engineer",
    "Principal Engineer",
    "Engineering Manager",
    "Director of Engineering",
    "Database Administrator",
    "Platform Engineer",
    "DevOps Engineer",
    "Security Engineer",
    "Network Engineer",
    "Support Engineer",
    "Incident Commander",
    "Product Manager",
    "QA Engineer",
    "Data Engineer",
    "Systems Administrator",
    "VP of Engineering",
)

BIOS: tuple[str, ...] = (
    "Keeps the lights on.",
    "Happy to help with anything on-call related.",
    "Ask me about our deployment pipeline.",
    "Prefers Slack over phone calls, except during incidents.",
    "Night owl; covers the late rotations.",
    "",
)

TIME_ZONES: tuple[str, ...] = (
    "UTC",
    "Europe/London",
    "Europe/Berlin",
    "Europe/Paris",
    "Europe/Amsterdam",
    "Europe/Madrid",
    "Europe/Warsaw",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "America/Toronto",
    "Asia/Tokyo",
    "Asia/Singapore",
    "Asia/Kolkata",
    "Asia/Shanghai",
    "Australia/Sydney",
    "Pacific/Auckland",
    "Africa/Johannesburg",
)

COLORS: tuple[str, ...] = (
    "green",
    "red",
    "purple",
    "blue",
    "teal",
    "orange",
    "brown",
    "turquoise",
    "dark-slate-blue",
    "cayenne",
    "orange-red",
    "dark-orchid",
    "lime",
    "dark-magenta",
    "midnight-blue",
    "deep-pink",
    "firebrick",
    "crimson",
    "royal-blue",
    "sea-green",
)

# A team theme: the team's base name, what it does, and the services it runs. Schedules, policies
# and services of a team are named after its theme, so "payments escalation" finds what it should.
THEMES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("Payments", "processes card and bank payments", ("Payments API", "Checkout", "Card Gateway")),
    ("Billing", "invoices customers and handles subscriptions", ("Billing Worker", "Invoicing")),
    ("Database Reliability", "runs the PostgreSQL and MySQL fleets", ("Postgres", "MySQL Fleet")),
    ("Search", "builds and runs product search", ("Search API", "Indexer", "Query Service")),
    ("Identity", "owns login, SSO and user accounts", ("Auth Service", "SSO Gateway")),
    ("Platform", "runs the Kubernetes platform everyone deploys to", ("Kubernetes", "Ingress")),
    ("Networking", "keeps the network, DNS and load balancers up", ("DNS", "Load Balancers")),
    ("Storage", "runs object and block storage", ("Object Storage", "Block Storage")),
    ("Mobile", "ships the iOS and Android apps", ("Mobile API", "Push Notifications")),
    ("Web Frontend", "builds the customer-facing web app", ("Web App", "CDN Edge")),
    ("Data Platform", "runs the data warehouse and pipelines", ("Warehouse", "ETL Pipelines")),
    ("Machine Learning", "serves recommendation and ranking models", ("Model Serving", "Features")),
    ("Security", "monitors threats and responds to security incidents", ("SIEM", "WAF")),
    ("Observability", "runs metrics, logs and tracing", ("Metrics", "Logging", "Tracing")),
    ("Messaging", "runs Kafka and the message queues", ("Kafka", "Queue Service")),
    ("Checkout", "owns the cart and checkout flow", ("Cart Service", "Order API")),
    ("Fulfillment", "routes orders to warehouses", ("Fulfillment API", "Warehouse Sync")),
    ("Shipping", "integrates with carriers and tracks parcels", ("Carrier Gateway", "Tracking")),
    ("Customer Support", "supports customers around the clock", ("Support Desk", "Chat Widget")),
    ("Notifications", "sends e-mail, SMS and push notifications", ("Email Sender", "SMS Gateway")),
    ("Inventory", "tracks stock across stores", ("Inventory API", "Stock Sync")),
    ("Pricing", "computes prices and promotions", ("Pricing Engine", "Promotions")),
    ("Fraud", "detects and blocks fraudulent activity", ("Fraud Scoring", "Risk Rules")),
    ("Growth", "runs experiments and onboarding", ("Experiments", "Onboarding")),
    ("Developer Experience", "owns CI, builds and developer tooling", ("CI", "Artifact Registry")),
    ("Release Engineering", "ships releases safely", ("Deploy Pipeline", "Feature Flags")),
    ("Corporate IT", "supports laptops, VPN and office networks", ("VPN", "Office Wi-Fi")),
    ("Cloud Infrastructure", "manages AWS and GCP accounts", ("AWS Accounts", "Terraform")),
    ("Caching", "runs Redis and Memcached", ("Redis", "Memcached")),
    ("API Gateway", "runs the public API edge", ("Public API", "Rate Limiter")),
    ("Streaming", "serves live video and audio", ("Stream Origin", "Transcoder")),
    ("Analytics", "delivers dashboards and reports", ("Dashboards", "Reporting API")),
    ("Compliance", "keeps audits and controls in order", ("Audit Log", "Retention Jobs")),
    ("Marketplace", "runs the seller marketplace", ("Seller API", "Listings")),
    ("Logistics", "plans routes and deliveries", ("Route Planner", "Dispatch")),
    ("Email Delivery", "runs outbound mail infrastructure", ("MTA", "Bounce Processor")),
    ("Edge", "runs the CDN and edge compute", ("Edge Workers", "CDN Config")),
    ("Core Banking", "runs the ledger and accounts", ("Ledger", "Accounts Service")),
    ("Trading", "runs order matching and market data", ("Matching Engine", "Market Data")),
    ("Video", "encodes and stores video", ("Encoder", "Video Storage")),
)

TEAM_QUALIFIERS: tuple[str, ...] = (
    "",
    "EMEA",
    "APAC",
    "Americas",
    "Platform",
    "Core",
    "Infrastructure",
    "Operations",
    "Tooling",
    "Mobile",
)

SCHEDULE_KINDS: tuple[str, ...] = (
    "Primary",
    "Secondary",
    "On-Call",
    "Follow the Sun",
    "Weekend",
    "Business Hours",
    "Backup",
    "Night Shift",
    "Tertiary",
    "Managers",
)

POLICY_KINDS: tuple[str, ...] = (
    "escalation",
    "Escalation Policy",
    "critical escalation",
    "business hours escalation",
    "after-hours escalation",
    "low urgency escalation",
    "incident escalation",
)

LAYER_NAMES: tuple[str, ...] = ("Day Shift", "Night Shift", "Weekend", "Follow the Sun", "Backup")

# Owners of schedules and policies that belong to no team.
SHARED_GROUPS: tuple[str, ...] = (
    "Company",
    "Incident Command",
    "Executive",
    "Shared Services",
    "Major Incident",
    "NOC",
    "Security Operations Center",
    "Customer Escalations",
    "Vendor Management",
    "Facilities",
    "Leadership",
    "Crisis Management",
)

SERVICE_SUFFIXES: tuple[str, ...] = (
    "",
    "",
    " API",
    " Worker",
    " Jobs",
    " Web",
    " Gateway",
    " Consumer",
    " Scheduler",
    " Replicas",
)
