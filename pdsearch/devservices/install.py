"""Installing the development servers once: OpenSearch assembled from Maven Central, PostgreSQL
and Java from Debian, and the system users they run as when we are root.

Maven Central serves OpenSearch's minimal distribution (``integ-test-zip``: the server and its
HTTP transport, nothing else) and the k-NN plugin as zips, but ``analysis-common`` (the English
analyzer and stemmers) and ``lang-painless`` (scripts; k-NN extends it) only as bare jars. We lay
those out as modules ourselves, with the descriptor OpenSearch reads at start. Every download is
pinned by SHA-256, so a changed artifact fails loudly instead of running.

k-NN 2.19.1.0 is the only k-NN on Maven Central that matches a published distribution, which
fixes OpenSearch at 2.19.1 (Java 11 to 21: Debian's Java 17). Maven's k-NN zip carries no native
libraries: only the ``lucene`` engine works, and a field on ``faiss`` or ``nmslib`` (the default
engine) kills the node on its first write.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import pwd
import shutil
import ssl
import subprocess
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from pdsearch.devservices.process import ServicesError, running_as_root, say

OPENSEARCH_VERSION = "2.19.1"
KNN_VERSION = "2.19.1.0"
# Bump when the layout we build changes, so an old cached install is rebuilt.
RECIPE = "1"
MAVEN_URL = os.environ.get("PDSEARCH_MAVEN_URL", "https://repo1.maven.org/maven2")
OPENSEARCH_USER = "opensearch"
POSTGRES_USER = "postgres"
JAVA_VERSIONS = range(11, 22)  # what OpenSearch 2.19 supports
DEBIAN_JAVA = "openjdk-17-jre-headless"


@dataclass(frozen=True)
class Artifact:
    group: str
    name: str
    version: str
    ext: str
    sha256: str
    size: int

    @property
    def filename(self) -> str:
        return f"{self.name}-{self.version}.{self.ext}"

    @property
    def url(self) -> str:
        folder = f"{self.group.replace('.', '/')}/{self.name}/{self.version}"
        return f"{MAVEN_URL}/{folder}/{self.filename}"


DISTRIBUTION = Artifact(
    "org.opensearch.distribution.integ-test-zip", "opensearch", OPENSEARCH_VERSION, "zip",
    "af7152d8b7f6f1cee09d47276b32b70479fe6dd8cdbb61213f84eb7f8098b261", 51_391_430,
)  # fmt: skip
KNN = Artifact(
    "org.opensearch.plugin", "opensearch-knn", KNN_VERSION, "zip",
    "eab8c9818865bc035212eab5068cdacae164baa09d4c152f49b736d6f6b0e85c", 5_888_095,
)  # fmt: skip
ANALYSIS_COMMON = [
    Artifact(
        "org.opensearch.plugin", "analysis-common", OPENSEARCH_VERSION, "jar",
        "13fdc1071af42946b13153a62491a5e9b0ad214d44f7c8153d3afef60f558821", 199_627,
    ),
]  # fmt: skip
# lang-painless and its runtime dependencies, as its Gradle module metadata lists them.
LANG_PAINLESS = [
    Artifact(
        "org.opensearch.plugin", "lang-painless", OPENSEARCH_VERSION, "jar",
        "3cf5e02efa40ff5b88e74e1ab66a0bc462de3509fab4a6a4ffe90b8d13777a9a", 719_758,
    ),
    Artifact(
        "org.opensearch.plugin", "opensearch-scripting-painless-spi", OPENSEARCH_VERSION, "jar",
        "c2598797a5f6f897ce7e8d05f593ff96de3fbc56c52f299d63cddcae41556dda", 30_407,
    ),
    Artifact(
        "org.antlr", "antlr4-runtime", "4.13.1", "jar",
        "54665d2838cc66458343468efc539e454fc95b46a8a04b13c6ac43fc9be63505", 326_305,
    ),
    Artifact(
        "org.ow2.asm", "asm", "9.7", "jar",
        "adf46d5e34940bdf148ecdd26a9ee8eea94496a72034ff7141066b3eea5c4e9d", 125_428,
    ),
    Artifact(
        "org.ow2.asm", "asm-util", "9.7", "jar",
        "37a6414d36641973f1af104937c95d6d921b2ddb4d612c66c5a9f2b13fc14211", 93_784,
    ),
    Artifact(
        "org.ow2.asm", "asm-tree", "9.7", "jar",
        "62f4b3bc436045c1acb5c3ba2d8ec556ec3369093d7f5d06c747eb04b56d52b1", 51_934,
    ),
    Artifact(
        "org.ow2.asm", "asm-commons", "9.7", "jar",
        "389bc247958e049fc9a0408d398c92c6d370c18035120395d4cba1d9d9304b7a", 73_426,
    ),
    Artifact(
        "org.ow2.asm", "asm-analysis", "9.7", "jar",
        "7bc6bcbc21379948a0c8c467fb0f864206e5b818f6bc0b546872f5c9f941556f", 34_776,
    ),
]  # fmt: skip
ALL_ARTIFACTS = [DISTRIBUTION, KNN, *ANALYSIS_COMMON, *LANG_PAINLESS]

# (module folder, its jars, the descriptor's fields, its security policy or None)
_MODULES: list[tuple[str, list[Artifact], dict[str, str], str | None]] = [
    (
        "lang-painless",
        LANG_PAINLESS,
        {
            "description": "Painless scripting language",
            "classname": "org.opensearch.painless.PainlessPlugin",
            "extended.plugins": "",
        },
        # Painless compiles scripts to classes at run time.
        'grant {\n  permission java.lang.RuntimePermission "createClassLoader";\n'
        '  permission java.lang.RuntimePermission "getClassLoader";\n};\n',
    ),
    (
        "analysis-common",
        ANALYSIS_COMMON,
        {
            "description": "Language analyzers, stemmers and the other common analysis parts",
            "classname": "org.opensearch.analysis.common.CommonAnalysisPlugin",
            "extended.plugins": "lang-painless",
        },
        None,
    ),
]


def default_cache_dir() -> Path:
    """Where installs are kept. Root uses a system cache rather than the checkout: the server's
    own user must read it, and CI's clone may sit under a home directory it cannot enter."""
    explicit = os.environ.get("PDSEARCH_SERVICES_CACHE")
    if explicit:
        return Path(explicit)
    if running_as_root():
        return Path("/var/cache/pdsearch-services")
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pdsearch-services"


@contextlib.contextmanager
def _locked(cache: Path) -> Iterator[None]:
    """One installer at a time per cache (two test runs may start together)."""
    cache.mkdir(parents=True, exist_ok=True)
    cache.chmod(0o755)
    with (cache / ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _download(artifact: Artifact, downloads: Path) -> Path:
    target = downloads / artifact.filename
    if target.exists() and _sha256(target) == artifact.sha256:
        return target
    downloads.mkdir(parents=True, exist_ok=True)
    megabytes = artifact.size / 1e6
    size = f"{megabytes:.1f} MB" if megabytes >= 1 else f"{artifact.size // 1000} kB"
    say(f"downloading {artifact.filename} ({size}) from {MAVEN_URL}")
    partial = target.with_name(target.name + ".partial")
    try:
        # The system's certificate store, not certifi's: a machine behind a TLS-inspecting proxy
        # trusts that proxy there.
        with httpx.stream(
            "GET",
            artifact.url,
            timeout=60.0,
            follow_redirects=True,
            verify=ssl.create_default_context(),
        ) as response:
            if response.status_code != 200:
                raise ServicesError(
                    f"Maven Central answered {response.status_code} for {artifact.url}"
                )
            with partial.open("wb") as out:
                for chunk in response.iter_bytes(1 << 20):
                    out.write(chunk)
    except httpx.HTTPError as exc:
        raise ServicesError(f"could not download {artifact.url}: {exc}") from exc
    got = _sha256(partial)
    if got != artifact.sha256:
        partial.unlink()
        raise ServicesError(
            f"{artifact.filename} from {MAVEN_URL} has SHA-256 {got}, expected "
            f"{artifact.sha256}; refusing to run it"
        )
    partial.replace(target)
    return target


def _descriptor(name: str, fields: dict[str, str]) -> str:
    lines = {
        "name": name,
        "version": OPENSEARCH_VERSION,
        "opensearch.version": OPENSEARCH_VERSION,
        "java.version": "11",
        "has.native.controller": "false",
        **fields,
    }
    return "".join(f"{key}={value}\n" for key, value in lines.items())


def _assemble(home: Path, downloads: Path) -> None:
    with zipfile.ZipFile(_download(DISTRIBUTION, downloads)) as archive:
        archive.extractall(home.parent)
    (home.parent / f"opensearch-{OPENSEARCH_VERSION}").rename(home)
    for folder, jars, fields, policy in _MODULES:
        module = home / "modules" / folder
        module.mkdir(parents=True)
        for jar in jars:
            shutil.copyfile(_download(jar, downloads), module / jar.filename)
        (module / "plugin-descriptor.properties").write_text(_descriptor(folder, fields))
        if policy is not None:
            (module / "plugin-security.policy").write_text(policy)
    with zipfile.ZipFile(_download(KNN, downloads)) as archive:
        archive.extractall(home / "plugins" / "opensearch-knn")
    # Readable by the server's own user, writable by nobody but us: the install is shared.
    for path in [home, *home.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)


def install_opensearch(cache: Path) -> Path:
    """OPENSEARCH_HOME, assembled on first use and reused after that."""
    home = cache / f"opensearch-{OPENSEARCH_VERSION}-knn-{KNN_VERSION}-r{RECIPE}"
    if (home / ".complete").exists():
        return home
    with _locked(cache):
        if (home / ".complete").exists():
            return home
        say(f"installing OpenSearch {OPENSEARCH_VERSION} with k-NN {KNN_VERSION} in {home}")
        building = Path(tempfile.mkdtemp(prefix=".building-", dir=cache))
        try:
            _assemble(building / "home", cache / "downloads")
            if home.exists():
                shutil.rmtree(home)
            (building / "home").rename(home)
        finally:
            shutil.rmtree(building, ignore_errors=True)
        (home / ".complete").write_text("")
    return home


def _apt_install(packages: list[str]) -> None:
    sudo = [] if running_as_root() else ["sudo"]
    if sudo and shutil.which("sudo") is None:
        raise ServicesError(
            f"{', '.join(packages)} missing and no sudo to install it: "
            f"run `apt-get install -y {' '.join(packages)}` as root"
        )
    say(f"installing {', '.join(packages)} from Debian (apt-get)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *packages]):
        done = subprocess.run(  # noqa: S603 - fixed commands
            [*sudo, *argv], env=env, stdout=subprocess.DEVNULL, check=False
        )
        if done.returncode != 0:
            raise ServicesError(f"`{' '.join(argv)}` failed (exit {done.returncode})")


def postgres_bin_dir() -> Path | None:
    """Debian's newest installed PostgreSQL (``/usr/lib/postgresql/<major>/bin``)."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"),
        key=lambda path: int(path.parent.parent.name) if path.parent.parent.name.isdigit() else 0,
    )
    return found[-1].parent if found else None


def _java_major(java_home: Path) -> int | None:
    try:
        release = (java_home / "release").read_text()
    except OSError:
        return None
    for line in release.splitlines():
        if line.startswith("JAVA_VERSION="):
            version = line.split("=", 1)[1].strip('"')
            head = version.split(".")[0]
            return int(head) if head.isdigit() else None
    return None


def java_home() -> Path | None:
    """A JDK or JRE OpenSearch 2.19 runs on: ``PDSEARCH_SERVICES_JAVA_HOME``, ``java`` on PATH,
    ``JAVA_HOME``, or any under /usr/lib/jvm (the machine's newer JDK is too new for 2.19)."""
    candidates: list[Path] = []
    if os.environ.get("PDSEARCH_SERVICES_JAVA_HOME"):
        chosen = Path(os.environ["PDSEARCH_SERVICES_JAVA_HOME"])
        if not (chosen / "bin" / "java").exists():
            raise ServicesError(f"PDSEARCH_SERVICES_JAVA_HOME={chosen} has no bin/java")
        return chosen
    on_path = shutil.which("java")
    if on_path:
        candidates.append(Path(on_path).resolve().parent.parent)
    if os.environ.get("JAVA_HOME"):
        candidates.append(Path(os.environ["JAVA_HOME"]))
    candidates.extend(sorted(Path("/usr/lib/jvm").glob("*")))
    for home in candidates:
        if (home / "bin" / "java").exists() and _java_major(home) in JAVA_VERSIONS:
            return home
    return None


def ensure_system_user(name: str) -> None:
    try:
        pwd.getpwnam(name)
    except KeyError:
        say(f"creating the system user {name}")
        subprocess.run(  # noqa: S603 - fixed command
            ["useradd", "--system", "--user-group", "--no-create-home",  # noqa: S607
             "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", name],
            check=True,
        )  # fmt: skip


def ensure_packages(*, postgres: bool, opensearch: bool) -> None:
    """Debian's PostgreSQL and a Java for OpenSearch, and (as root) the users that run them;
    idempotent: when all is there this only looks."""
    missing = []
    if postgres and postgres_bin_dir() is None:
        missing.append("postgresql")
    if opensearch and java_home() is None:
        missing.append(DEBIAN_JAVA)
    if missing:
        _apt_install(missing)
    if running_as_root():
        if postgres:
            ensure_system_user(POSTGRES_USER)
        if opensearch:
            ensure_system_user(OPENSEARCH_USER)


def require_postgres_bin() -> Path:
    found = postgres_bin_dir()
    if found is None:
        raise ServicesError("PostgreSQL is not installed: apt-get install -y postgresql")
    return found


def require_java_home() -> Path:
    found = java_home()
    if found is None:
        raise ServicesError(
            f"no Java 11 to 21 for OpenSearch {OPENSEARCH_VERSION}: apt-get install -y "
            f"{DEBIAN_JAVA}, or set PDSEARCH_SERVICES_JAVA_HOME"
        )
    return found
