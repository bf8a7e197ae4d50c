/**
 * The chaos orchestrator (`make chaos`, `make soak`; see docs/chaos.md). Starts a hostile upstream,
 * the Kinesis emulator (persistent) behind a stalling proxy, and the `run` and `consume` roles as
 * processes; injects faults on a seeded schedule for CHAOS_SECS; then stops the faults, lets the
 * system drain, stops the roles with SIGTERM and checks that everything the upstream served landed
 * in bronze, that nothing but the over-1-MiB records ended only in dead-letter, and that the bearer
 * token appears nowhere. Prints a summary, writes `<dir>/summary.json`, exits 1 when a check fails
 * (2 when the harness itself fails).
 *
 * Usage: node --import ./deploy/cdk/register.mjs test/chaos/run.ts [--soak]
 */
import { randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type KinesisLocal, startKinesisLocal } from '../../src/local/kinesis-local.js';
import { analyse, grepFiles } from './check.js';
import {
  type ChaosOptions,
  chaosOptions,
  DOWNSTREAM,
  type DownstreamFault,
  STREAM,
  serviceConfigYaml,
  TOKEN_ENV,
} from './options.js';
import { StallProxy } from './proxy.js';
import { buildChecks, formatSummary, mib, type Summary } from './report.js';
import { Deck, seededRng } from './rng.js';
import { RoleProcess, type SignalOutcome } from './roles.js';
import { ChaosUpstream, TrapServer } from './upstream.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

async function main(opts: ChaosOptions): Promise<number> {
  const cli = resolve('dist/cli.js');
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run \`make build\` first`);
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), `chaos-`));
  const [lakeDir, stateDir, kinesisDir, logDir] = ['lake', 'state', 'kinesis', 'logs'].map((d) =>
    join(dir, d),
  ) as [string, string, string, string];
  for (const d of [lakeDir, stateDir, kinesisDir, logDir]) mkdirSync(d, { recursive: true });
  const t0 = Date.now();
  const at = () => (Date.now() - t0) / 1000;
  const say = (msg: string) => console.log(`[chaos +${at().toFixed(0)}s] ${msg}`);
  const rng = seededRng(opts.seed);
  const token = `chaos-token-${randomBytes(16).toString('hex')}`;
  say(
    `${opts.soak ? 'soak' : 'chaos'} run: CHAOS_SECS=${opts.secs} CHAOS_SEED=${opts.seed} CHAOS_DRAIN_SECS=${opts.drainSecs} CHAOS_RECORDS_PER_SEC=${opts.recordsPerSec} CHAOS_FAULT_RATE=${opts.faultRate} faults=${opts.faults} dir=${dir}`,
  );

  const trap = new TrapServer(token);
  await trap.start();
  const upstream = new ChaosUpstream({
    token,
    rng,
    ledgerPath: join(dir, 'ledger.ndjson'),
    trapOrigin: trap.origin,
    maxResponseBytes: opts.maxResponseBytes,
    faultRate: opts.faultRate,
  });
  await upstream.start();

  let kinesisIncarnation = 0;
  const startKinesis = async (port?: number): Promise<KinesisLocal> => {
    const log = join(logDir, `kinesis.${++kinesisIncarnation}.log`);
    return startKinesisLocal({
      streams: [{ name: STREAM, shards: opts.shards }],
      persistDir: kinesisDir,
      ...(port ? { port } : {}),
      log: (line) => appendFileSync(log, line),
    });
  };
  let kinesis = await startKinesis();
  const proxy = new StallProxy(Number(new URL(kinesis.endpoint).port));
  const proxyEndpoint = await proxy.start();

  const configFile = join(dir, 'config.yaml');
  writeFileSync(configFile, serviceConfigYaml({ upstream: upstream.origin, lakeDir, stateDir, opts }));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    [TOKEN_ENV]: token,
    AWS_ENDPOINT_URL_KINESIS: proxyEndpoint,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
  };
  let kinesisDown = false;
  const outage = () => proxy.stalled || kinesisDown;
  const roles = {
    run: new RoleProcess({ role: 'run', cli, configFile, env, logDir, t0, outage }),
    consume: new RoleProcess({ role: 'consume', cli, configFile, env, logDir, t0, outage }),
  };
  const signals: SignalOutcome[] = [];
  const downstream = Object.fromEntries(DOWNSTREAM.map((k) => [k, 0])) as Record<DownstreamFault, number>;
  const notes: Record<string, string> = {};
  let sigtermsDuringStall = 0;
  const rssSeries: Summary['rssSeries'] = [];
  let stopped = false;

  const cleanup = async () => {
    stopped = true;
    for (const r of Object.values(roles)) if (r.running && r.pid) process.kill(r.pid, 'SIGKILL');
    proxy.unstall();
    await Promise.allSettled([kinesis.stop(), proxy.close(), upstream.close(), trap.close()]);
  };
  const onSignal = () => {
    console.log('[chaos] interrupted: stopping everything it started');
    void cleanup().then(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    roles.consume.start();
    roles.run.start();
    // Memory every second (VmHWM is the peak of a process; a killed process's peak is kept from its
    // last sample); a row every 30 s (the soak: every CHAOS_RSS_SAMPLE_SECS).
    const rowEveryMs = opts.soak ? opts.rssSampleSecs * 1000 : 30_000;
    let lastRow = 0;
    const sampler = setInterval(() => {
      roles.run.sample();
      roles.consume.sample();
      if (Date.now() - lastRow < rowEveryMs) return;
      lastRow = Date.now();
      rssSeries.push({
        atSecs: Math.round(at()),
        runMiB: mib(roles.run.rssKb),
        consumeMiB: mib(roles.consume.rssKb),
      });
      say(
        `served ${upstream.served.size} id@version, upstream holds ${upstream.current().length} records; RSS run ${mib(roles.run.rssKb)} MiB (peak ${mib(roles.run.peakKb)}), consume ${mib(roles.consume.rssKb)} MiB (peak ${mib(roles.consume.peakKb)})`,
      );
    }, 1_000);

    // --- fault phase --------------------------------------------------------------------------
    const faultEnd = Date.now() + opts.secs * 1000;
    upstream.setGrowth(true, opts.recordsPerSec, opts.updatesPerSec);
    const stalls: Promise<void>[] = [];
    if (opts.faults) {
      upstream.setFaults(true);
      for (const frac of [0.25, 0.65]) {
        setTimeout(
          () => {
            if (Date.now() < faultEnd && !stopped) {
              upstream.addBigRecord();
              say('added a record over 1 MiB');
            }
          },
          opts.secs * frac * 1000,
        );
      }
      const stallMaxSecs = Math.min(60, Math.max(3, Math.floor(opts.secs / 6)));
      const meanGapSecs = Math.min(25, Math.max(4, opts.secs / 12));
      // The first deck deals every kind once, starting with the longest stall and a SIGTERM of `run`
      // during it (shutdown while the stream is stalled); then shuffled decks follow.
      const first: DownstreamFault[] = [
        'kinesis_stall',
        'run_sigterm',
        ...rng.shuffle(DOWNSTREAM.filter((k) => k !== 'kinesis_stall' && k !== 'run_sigterm')),
      ];
      const deck = new Deck(DOWNSTREAM, rng);
      await sleep(Math.min(10_000, opts.secs * 100));
      let firstStallSecs = 0;
      while (Date.now() < faultEnd && !stopped) {
        const firstStall = first[0] === 'kinesis_stall';
        const kind = first.shift() ?? deck.next();
        downstream[kind]++;
        const [role, sig] = kind.split('_') as ['run' | 'consume', 'sigterm' | 'sigkill'];
        if (kind === 'kinesis_stall') {
          const secs = firstStall ? stallMaxSecs : rng.int(3, stallMaxSecs);
          if (firstStall) firstStallSecs = secs;
          say(`stall the Kinesis proxy for ${secs} s`);
          proxy.stall();
          stalls.push(sleep(secs * 1000).then(() => proxy.unstall()));
        } else if (kind === 'kinesis_kill_restart') {
          // Stop forwarding first and give the emulator 1.5 s (3 persist intervals) to write what it
          // acknowledged, as a real stream would keep it; then SIGKILL it and forward again, so while
          // it is down the roles' connections are refused; restart it on its port from its data.
          proxy.stall();
          await sleep(1_500);
          const downSecs = rng.int(5, 20);
          say(`kill the Kinesis emulator (SIGKILL), restart it after ${downSecs} s with its persisted data`);
          const port = Number(new URL(kinesis.endpoint).port);
          kinesisDown = true;
          await kinesis.stop();
          proxy.unstall();
          await sleep(downSecs * 1000);
          kinesis = await startKinesis(port).catch(() => startKinesis());
          proxy.targetPort = Number(new URL(kinesis.endpoint).port);
          kinesisDown = false;
        } else {
          const r = roles[role];
          if (!r.running) {
            say(`${role} is not running (restarting after an exit): skip ${sig}`);
          } else {
            const duringStall = proxy.stalled;
            const o = await r.signal(sig === 'sigterm' ? 'SIGTERM' : 'SIGKILL', {
              timeoutSecs: opts.shutdownTimeoutSecs + 10,
            });
            signals.push(o);
            if (o.signal === 'SIGTERM' && duringStall) sigtermsDuringStall++;
            say(
              `${o.signal} ${role}${duringStall ? ' during a stall' : ''}: exit ${o.code ?? o.exitSignal} after ${o.secs.toFixed(1)} s${o.timedOut ? ' (timed out, killed)' : ''}`,
            );
            await sleep(rng.int(1, 3) * 1000);
            if (!stopped) r.start();
          }
        }
        // After the first stall, SIGTERM `run` while the stall still has shutdownTimeoutSecs + 3 s to
        // go: it has been failing to put records for a while, holds some, and must still exit 0 in time.
        const gap = firstStall
          ? Math.max(2, firstStallSecs - opts.shutdownTimeoutSecs - 3) * 1000
          : rng.int(Math.round(meanGapSecs * 500), Math.round(meanGapSecs * 1500));
        await sleep(Math.min(gap, faultEnd - Date.now()));
      }
    } else {
      await sleep(faultEnd - Date.now());
    }

    // --- drain ---------------------------------------------------------------------------------
    upstream.setFaults(false);
    await Promise.all(stalls);
    upstream.setGrowth(false);
    notes.kinesis_stall = `(${proxy.stalledSecs.toFixed(0)} s stalled in all; ${sigtermsDuringStall} SIGTERM(s) during a stall)`;
    notes.http_5xx_burst = `(${upstream.stats.burstResponses} 5xx responses)`;
    for (const r of Object.values(roles)) if (!r.running) r.start();
    say('faults stopped; draining');
    const drainStart = Date.now();
    const drainEnd = drainStart + opts.drainSecs * 1000;
    for (;;) {
      const a = analyse(upstream.served.values(), upstream.current(), lakeDir);
      const done =
        a.lost.length === 0 &&
        a.neverServed.length === 0 &&
        a.currentInBronze === a.currentTotal &&
        a.bigNotDeadLettered.length === 0;
      if (done || Date.now() > drainEnd) {
        say(
          `${done ? 'drained' : 'drain timed out'}: current records in bronze ${a.currentInBronze} of ${a.currentTotal}, lost so far ${a.lost.length}, only in dead-letter ${a.onlyInDeadLetter.length}`,
        );
        break;
      }
      await sleep(3_000);
    }
    const drainSecs = (Date.now() - drainStart) / 1000;

    // --- stop and check ------------------------------------------------------------------------
    for (const role of ['run', 'consume'] as const) {
      const r = roles[role];
      if (!r.running) continue;
      const o = await r.signal('SIGTERM', { timeoutSecs: opts.shutdownTimeoutSecs + 10, final: true });
      signals.push(o);
      say(`final SIGTERM ${role}: exit ${o.code ?? o.exitSignal} after ${o.secs.toFixed(1)} s`);
      if (role === 'run') await sleep(3_000); // let the bronze writer read the last records
    }
    clearInterval(sampler);
    stopped = true;
    await kinesis.stop();
    await proxy.close();
    const upstreamStats = upstream.stats;
    await upstream.close();
    await trap.close();

    const analysis = analyse(upstream.served.values(), upstream.current(), lakeDir);
    const base = {
      mode: opts.soak ? ('soak' as const) : ('chaos' as const),
      seed: opts.seed,
      secs: opts.secs,
      dir,
      elapsedSecs: at(),
      drainSecs,
      faults: { ...upstreamStats.faults, ...downstream },
      faultNotes: notes,
      upstream: {
        requests: upstreamStats.requests,
        fullPages: upstreamStats.fullPages,
        burstResponses: upstreamStats.burstResponses,
        unauthorized: upstreamStats.unauthorized,
      },
      trap: { requests: trap.requests, requestsWithToken: trap.requestsWithToken },
      analysis,
      rss: {
        run: { peakMiB: mib(roles.run.peakKb), incarnations: roles.run.incarnations },
        consume: { peakMiB: mib(roles.consume.peakKb), incarnations: roles.consume.incarnations },
      },
      rssSeries,
      signals,
      unexpectedExits: [...roles.run.unexpected, ...roles.consume.unexpected],
      // Every file the run left: role and emulator logs, lake (bronze, dead-letter), state, emulator data.
      tokenHits: grepFiles([dir], token),
    };
    const checks = buildChecks(base, opts.shutdownTimeoutSecs);
    const summary: Summary = { ...base, checks, passed: checks.every((c) => c.pass) };
    writeFileSync(join(dir, 'summary.json'), JSON.stringify(summary, null, 2));
    console.log(formatSummary(summary));
    console.log(`summary: ${join(dir, 'summary.json')}`);
    return summary.passed ? 0 : 1;
  } finally {
    if (!stopped) await cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

main(chaosOptions(process.argv.slice(2))).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error('[chaos] harness failure:', err);
    process.exit(2);
  },
);
