import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'

export const CLI = fileURLToPath(new URL('../../bin/streamgate', import.meta.url))

export interface GatewayProcess {
  readonly url: string
  readonly child: ChildProcess
  /** Every JSON log line so far. */
  readonly logs: Record<string, unknown>[]
  /** Sends the signal and resolves with the exit code and the milliseconds it took. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; milliseconds: number }>
}

/** The JWT secret of test gateways. */
export const TEST_SECRET = 'test-secret-of-thirty-two-bytes!'

/**
 * Starts `streamgate serve` on a free port and waits for its "listening" log line. Unless the
 * arguments say otherwise: the memory store and TEST_SECRET, so that tests share no state.
 */
export async function startGateway(
  args: string[] = [],
  options: { env?: NodeJS.ProcessEnv } = {},
): Promise<GatewayProcess> {
  const defaults = [
    ...(args.includes('--store') ? [] : ['--store', 'memory']),
    ...(args.includes('--jwt-secret') ? [] : ['--jwt-secret', TEST_SECRET]),
  ]
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', ...defaults, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...hermeticEnv(), ...options.env },
  })
  const logs: Record<string, unknown>[] = []
  let stderr = ''
  child.stderr?.setEncoding('utf8').on('data', (text: string) => {
    stderr += text
  })
  const url = await new Promise<string>((resolve, reject) => {
    let buffered = ''
    child.stdout?.setEncoding('utf8').on('data', (text: string) => {
      buffered += text
      let newline = buffered.indexOf('\n')
      while (newline !== -1) {
        const line = buffered.slice(0, newline)
        buffered = buffered.slice(newline + 1)
        newline = buffered.indexOf('\n')
        try {
          const entry = JSON.parse(line) as Record<string, unknown>
          logs.push(entry)
          if (entry.msg === 'listening') resolve(String(entry.url))
        } catch {
          // Not a log line.
        }
      }
    })
    child.once('exit', (code) => reject(new Error(`gateway exited with ${code}: ${stderr}`)))
    setTimeout(() => reject(new Error(`gateway did not start in 10 s: ${stderr}`)), 10_000).unref()
  })
  return {
    url,
    child,
    logs,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      const started = performance.now()
      if (child.exitCode !== null || child.signalCode !== null)
        return { code: child.exitCode, milliseconds: 0 }
      const exited = once(child, 'exit')
      child.kill(signal)
      const [code] = (await exited) as [number | null]
      return { code, milliseconds: performance.now() - started }
    },
  }
}

/** This process's environment without provider settings, so that no test reaches a real LLM API. */
export function hermeticEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' }
  for (const name of Object.keys(env)) if (/^(OPENAI|ANTHROPIC)_/.test(name)) delete env[name]
  return env
}

/** Runs the CLI to completion. */
export function runCli(
  args: string[],
  options: { input?: string; timeoutMs?: number } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return startCli(args, options).done
}

/** Starts the CLI: what it has printed so far, and its end. */
export function startCli(
  args: string[],
  options: { input?: string; timeoutMs?: number } = {},
): {
  output: { stdout: string; stderr: string }
  done: Promise<{ code: number | null; stdout: string; stderr: string }>
} {
  const child = spawn(process.execPath, [CLI, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: hermeticEnv(),
  })
  const output = { stdout: '', stderr: '' }
  child.stdout.setEncoding('utf8').on('data', (text: string) => {
    output.stdout += text
  })
  child.stderr.setEncoding('utf8').on('data', (text: string) => {
    output.stderr += text
  })
  child.stdin.end(options.input ?? '')
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 20_000)
  const done = once(child, 'exit').then(([code]) => {
    clearTimeout(timer)
    return { code: code as number | null, ...output }
  })
  return { output, done }
}
