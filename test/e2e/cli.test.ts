import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { describe, expect, it } from 'vitest'
import { CLI, runCli, startGateway } from '../helpers/gateway-process.js'

describe('streamgate', () => {
  it('lists its commands in --help and prints --version', async () => {
    const help = await runCli(['--help'])
    expect(help.code).toBe(0)
    expect(help.stdout).toMatch(/serve/)
    expect(help.stdout).toMatch(/listen/)
    const version = await runCli(['--version'])
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/)
  })

  it.each([
    [['serve', '--bogus'], /unknown option '--bogus'/],
    [['serve', '--port', 'abc'], /--port/],
    [['serve', '--subscriber-buffer', 'lots'], /--subscriber-buffer/],
    [
      ['serve', '--tls-cert', 'missing.pem', '--tls-key', 'missing.pem'],
      /--tls-cert: cannot read missing.pem/,
    ],
    [['nonsense'], /unknown command/],
    [
      ['serve', '--host', '0.0.0.0', '--store', 'memory'],
      /LLM routes would be open to the network: give --api-key/,
    ],
    [['serve', '--upstream', 'localhost:11434'], /--upstream: expected an http:\/\/ or https:\/\/ URL/],
  ])('refuses %j with a clear message and exit code 2', async (args, message) => {
    const { code, stderr } = await runCli(args)
    expect(code).toBe(2)
    expect(stderr).toMatch(message)
    expect(stderr).not.toMatch(/\n\s+at /)
  })

  it('reads settings from STREAMGATE_* environment variables', async () => {
    const child = spawn(process.execPath, [CLI, 'serve'], {
      env: { ...process.env, STREAMGATE_PORT: 'not-a-port' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stderr = ''
    child.stderr.setEncoding('utf8').on('data', (text: string) => {
      stderr += text
    })
    const [code] = await once(child, 'exit')
    expect(code).toBe(2)
    expect(stderr).toMatch(/--port/)

    const fromEnvironment = spawn(process.execPath, [CLI, 'serve', '--port', '0'], {
      env: { ...process.env, STREAMGATE_HOST: '127.0.0.2' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const [line] = (await once(fromEnvironment.stdout.setEncoding('utf8'), 'data')) as [string]
    expect(JSON.parse(line).url).toMatch(/^http:\/\/127\.0\.0\.2:\d+$/)
    fromEnvironment.kill('SIGTERM')
    expect((await once(fromEnvironment, 'exit'))[0]).toBe(0)
  })

  it('listen exits cleanly on Ctrl-C', async () => {
    const gateway = await startGateway()
    try {
      const child = spawn(process.execPath, [CLI, 'listen', `${gateway.url}/stream?interval=10000`], {
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      let stderr = ''
      child.stderr.setEncoding('utf8').on('data', (text: string) => {
        stderr += text
      })
      await once(child.stdout, 'data')
      child.kill('SIGINT')
      const [code] = await once(child, 'exit')
      expect(code).toBe(130)
      expect(stderr).not.toMatch(/Error|\n\s+at /)
    } finally {
      await gateway.stop()
    }
  })
})
