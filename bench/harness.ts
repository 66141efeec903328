// Helpers shared by the benchmarks that run servers and load clients as processes.
import { type ChildProcess, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

export async function startChild(
  command: string,
  args: string[],
  portOf: (line: string) => number | undefined,
): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] })
  const port = await new Promise<number>((resolve, reject) => {
    let buffered = ''
    child.stdout?.setEncoding('utf8').on('data', (text: string) => {
      buffered += text
      for (const line of buffered.split('\n').slice(0, -1)) {
        try {
          const found = portOf(line)
          if (found !== undefined) resolve(found)
        } catch {
          // Not a JSON line.
        }
      }
      buffered = buffered.slice(buffered.lastIndexOf('\n') + 1)
    })
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)))
  })
  return { child, port }
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

export const percentile = (values: number[], p: number) =>
  [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((values.length * p) / 100))] ??
  Number.NaN

/** `streamgate serve` on a free port, with these arguments; ready once it logs "listening". */
export function startStreamgate(args: string[]): Promise<{ child: ChildProcess; port: number }> {
  return startChild(
    process.execPath,
    [
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
  )
}
