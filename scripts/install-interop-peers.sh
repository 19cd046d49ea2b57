#!/usr/bin/env bash
# Install what the interop tests (tests/server/test_interop_*.py) run next to zkfast:
# a JDK to compile tests/peers/CuratorPeer.java against Debian's Curator 5.4 jars
# (recipes, framework, client, x-discovery with its Jackson), and
# Go with Debian's go-zookeeper to build tests/peers/gopeer. .ci/run calls this.
# Idempotent: installs only what is missing (checked by the files the tests use).
set -euo pipefail

SUDO=""
if [ "$(id -u)" != "0" ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi

need=()
command -v javac >/dev/null 2>&1 || need+=(default-jdk-headless)
for jar in curator-recipes:libcurator-recipes-java curator-framework:libcurator-framework-java \
           curator-client:libcurator-client-java curator-x-discovery:libcurator-discovery-java \
           jackson-databind:libjackson2-databind-java slf4j-simple:libslf4j-java; do
    [ -f "/usr/share/java/${jar%%:*}.jar" ] || need+=("${jar#*:}")
done
command -v go >/dev/null 2>&1 || need+=(golang-go)
[ -f /usr/share/gocode/src/github.com/samuel/go-zookeeper/zk/lock.go ] \
    || need+=(golang-github-samuel-go-zookeeper-dev)

if [ "${#need[@]}" -gt 0 ]; then
    echo ">> installing the interop peers' toolchains: ${need[*]}"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
echo ">> interop peers: $(javac -version 2>&1), Curator $(dpkg-query -W -f='${Version}' libcurator-recipes-java 2>/dev/null), $(go version)"
