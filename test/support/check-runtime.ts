/**
 * `npm test` starts here: the project targets Node.js 24 LTS through the `node`
 * devDependency, which `npm run` puts first on PATH. Fail loudly if that did not happen
 * (a test run on another major version proves nothing about the product).
 */
const major = Number(process.versions.node.split('.')[0]);
if (major !== 24) {
  process.stderr.write(`shadowplane tests need Node.js 24 (found ${process.version}); run them through npm.\n`);
  process.exit(1);
}
process.stdout.write(`runtime: Node.js ${process.version}\n`);
