// Lets Node 22 run deploy/cdk/*.ts directly (type stripping): the sources follow the project's
// NodeNext convention of importing `./x.js`; this resolve hook falls back to `./x.ts` when the `.js`
// file does not exist. Usage: node --import ./deploy/cdk/register.mjs deploy/cdk/app.ts
import { registerHooks } from 'node:module';

registerHooks({
  resolve(specifier, context, nextResolve) {
    try {
      return nextResolve(specifier, context);
    } catch (err) {
      if (err?.code === 'ERR_MODULE_NOT_FOUND' && /^\.\.?\/.*\.js$/.test(specifier)) {
        return nextResolve(`${specifier.slice(0, -3)}.ts`, context);
      }
      throw err;
    }
  },
});
