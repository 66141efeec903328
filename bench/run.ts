// `npm run bench -- <name...>`: runs the named benchmarks (all when none is named).
const benchmarks: Record<string, () => Promise<unknown>> = {
  parser: () => import('./parser.js'),
  fanout: () => import('./fanout.js'),
  llm: () => import('./llm.js'),
  cluster: () => import('./cluster.js'),
  hold: () => import('./hold.js'),
  hardening: () => import('./hardening.js'),
  streams: () => import('./streams.js'),
}

const names = process.argv.slice(2)
for (const name of names.length > 0 ? names : Object.keys(benchmarks)) {
  const load = benchmarks[name]
  if (load === undefined) {
    console.error(`Unknown benchmark "${name}"; choose from: ${Object.keys(benchmarks).join(', ')}`)
    process.exit(2)
  }
  await load()
}
