"""Word lists the generator draws believable names, titles and descriptions from, and the one
function that makes a service's description of them."""

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

# What each service of a theme does (after "that ..."), for service descriptions: semantic search
# reads them, so each says what the service is for in plain words.
SERVICE_PURPOSES: dict[str, str] = {
    "Payments API": "authorises card payments and bank transfers for every purchase",
    "Checkout": "takes the customer from cart to a paid order",
    "Card Gateway": "talks to the card networks and acquiring banks",
    "Billing Worker": "charges subscriptions and retries failed renewals",
    "Invoicing": "creates and sends monthly invoices and credit notes",
    "Postgres": "hosts the primary PostgreSQL clusters with failover and backups",
    "MySQL Fleet": "runs the MySQL databases behind the older product services",
    "Search API": "answers product searches with ranked results",
    "Indexer": "keeps the product search index in step with the catalogue",
    "Query Service": "parses search queries and applies spelling fixes and synonyms",
    "Auth Service": "signs users in and issues session tokens",
    "SSO Gateway": "connects customers' identity providers through SAML and OIDC",
    "Kubernetes": "schedules every team's containers on the shared clusters",
    "Ingress": "routes incoming traffic to services inside the clusters",
    "DNS": "resolves the company's domains, internal and public",
    "Load Balancers": "spreads traffic across healthy hosts in every region",
    "Object Storage": "stores files, images and backups as objects",
    "Block Storage": "provides the disks for databases and virtual machines",
    "Mobile API": "serves the data the iOS and Android apps show",
    "Push Notifications": "delivers push messages to phones through APNs and FCM",
    "Web App": "renders the customer-facing website",
    "CDN Edge": "caches pages and assets close to customers",
    "Warehouse": "holds the company's analytical data for reporting",
    "ETL Pipelines": "loads data from product databases into the warehouse every night",
    "Model Serving": "serves recommendation and ranking models with low latency",
    "Features": "computes and stores the features the models use",
    "SIEM": "collects security logs and raises alerts on suspicious activity",
    "WAF": "blocks malicious web requests before they reach the applications",
    "Metrics": "collects and stores time-series metrics for dashboards and alerts",
    "Logging": "gathers and indexes application logs",
    "Tracing": "records distributed traces of requests across services",
    "Kafka": "carries event streams between services",
    "Queue Service": "holds background jobs until workers take them",
    "Cart Service": "keeps customers' shopping carts across devices",
    "Order API": "creates orders and reports their status",
    "Fulfillment API": "assigns each order to a warehouse that can ship it",
    "Warehouse Sync": "exchanges orders and stock levels with the warehouses",
    "Carrier Gateway": "books shipments and prints labels with the carriers",
    "Tracking": "follows parcels and tells customers where they are",
    "Support Desk": "manages customer tickets and replies",
    "Chat Widget": "lets customers chat with support from the website",
    "Email Sender": "sends transactional e-mail such as receipts and password resets",
    "SMS Gateway": "sends text messages through the telecom providers",
    "Inventory API": "tells every service how much stock is available",
    "Stock Sync": "imports stock counts from stores and suppliers",
    "Pricing Engine": "computes the price of every product in every market",
    "Promotions": "applies discount codes and running promotions",
    "Fraud Scoring": "scores each payment for the risk of fraud",
    "Risk Rules": "holds or blocks orders that match risk rules",
    "Experiments": "assigns users to A/B tests and records the results",
    "Onboarding": "guides new customers through sign-up and first steps",
    "CI": "builds and tests every change before it merges",
    "Artifact Registry": "stores container images and build artifacts",
    "Deploy Pipeline": "rolls releases out to production in stages",
    "Feature Flags": "turns features on and off per customer without a deploy",
    "VPN": "connects employees to the internal network from anywhere",
    "Office Wi-Fi": "provides the wireless network in every office",
    "AWS Accounts": "manages the company's AWS accounts, access and budgets",
    "Terraform": "applies infrastructure changes from code",
    "Redis": "caches sessions and hot data in memory",
    "Memcached": "caches rendered pages and query results",
    "Public API": "exposes the product to customers' own integrations",
    "Rate Limiter": "keeps any one client from overloading the public API",
    "Stream Origin": "ingests live video and audio streams",
    "Transcoder": "converts streams into the formats every device plays",
    "Dashboards": "shows business metrics to every team",
    "Reporting API": "produces scheduled reports and exports for customers",
    "Audit Log": "records who did what for auditors and customers",
    "Retention Jobs": "deletes data once its retention period ends",
    "Seller API": "lets marketplace sellers manage their shops",
    "Listings": "publishes sellers' products in the marketplace catalogue",
    "Route Planner": "plans delivery routes for the drivers",
    "Dispatch": "assigns deliveries to drivers and vehicles",
    "MTA": "relays outbound e-mail to the internet",
    "Bounce Processor": "handles bounced and rejected e-mail",
    "Edge Workers": "runs code at the edge, close to customers",
    "CDN Config": "manages caching rules and certificates on the CDN",
    "Ledger": "records every movement of money as double-entry bookings",
    "Accounts Service": "keeps customers' bank accounts and balances",
    "Matching Engine": "matches buy and sell orders",
    "Market Data": "publishes prices and trades to clients in real time",
    "Encoder": "encodes uploaded video into streaming formats",
    "Video Storage": "stores and serves video files",
    # Services of policies that belong to no team.
    "Status Page": "tells customers about incidents and maintenance",
    "Internal Tools": "hosts the admin tools employees use every day",
    "Customer Portal": "lets customers manage their accounts and billing",
}

# A service name's suffix -> the part of the service it names ("" for the service itself).
SERVICE_PARTS: dict[str, str] = {
    "": "",
    " API": "HTTP API",
    " Worker": "background workers",
    " Jobs": "scheduled jobs",
    " Web": "web front end",
    " Gateway": "gateway",
    " Consumer": "queue consumer",
    " Scheduler": "job scheduler",
    " Replicas": "read replicas",
}


def service_description(service: str, suffix: str, team: str | None) -> str:
    """One sentence saying what a service does and who runs it, from its theme's words.

    ``service`` is a theme's service (``Payments API``), ``suffix`` the part its name adds
    (`` Worker``), ``team`` the owning team's name (None: shared by every team). No randomness:
    the same name always gets the same description."""
    part = SERVICE_PARTS.get(suffix, "")
    lead = f"The {part} of the service" if part else "The service"
    owner = f"run by the {team} team" if team else "shared by every team"
    return f"{lead} that {SERVICE_PURPOSES[service]}, {owner}."
