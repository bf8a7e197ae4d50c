/**
 * CDK entry point: synthesizes IngestLakeStack into a cloud assembly, offline (no AWS calls, no
 * Docker: the image is only staged as an asset, built by `cdk deploy`).
 *
 * Through the CDK CLI (reads deploy/cdk/cdk.json, runs this file with Node 22's type stripping):
 *   cd deploy/cdk && npx aws-cdk@2 synth -c env=prod -c useFirehose=false
 * Without the CLI (what `make` and the tests can do offline):
 *   node --import ./deploy/cdk/register.mjs deploy/cdk/app.ts -c env=prod -c useFirehose=false
 * writes deploy/cdk/cdk.out (or $CDK_OUTDIR), which `cdk deploy --app deploy/cdk/cdk.out` deploys.
 */
import { join } from 'node:path';
import { buildIngestLakeApp } from './build.js';
import { contextArgs } from './context.js';

const { app } = buildIngestLakeApp({
  // The CLI passes its context in CDK_CONTEXT_JSON and its output folder in CDK_OUTDIR; App reads both.
  outdir: process.env.CDK_OUTDIR ?? join(import.meta.dirname, 'cdk.out'),
  context: contextArgs(process.argv.slice(2)),
});
app.synth();
