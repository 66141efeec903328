import { describe, expect, it } from 'vitest'
import { ConfigError, parseGatewayConfig } from './config.js'

describe('gateway configuration', () => {
  it('has the documented defaults', () => {
    expect(parseGatewayConfig({})).toEqual({
      port: 8080,
      host: '127.0.0.1',
      heartbeat: 15,
      corsOrigin: ['*'],
      publishOrigin: [],
      subscriberBuffer: 256 * 1024,
      logLevel: 'info',
      store: 'sqlite:./.streamgate/hub.db',
      anonymous: true,
      subscriptions: false,
      maxBody: 1024 * 1024,
      historySize: 10_000,
      presenceHistory: 1000,
      historyMaxAge: 86_400,
      upstreamConnectTimeout: 10,
      upstreamHeaderTimeout: 600,
      upstreamIdleTimeout: 300,
      apiKey: [],
      auth: true,
      resumeGrace: 30,
      generationRetention: 3600,
      generationMaxBytes: 1024 ** 3,
      jwtIssuer: [],
      jwtIssuerKey: [],
      upstreamBackground: false,
      streamLongPoll: 20,
      streamReaders: 1000,
      streamMaxBytes: 64 * 1024 ** 2,
      maxStreams: 100_000,
      keyRpm: 0,
      keyConcurrency: 0,
      maxConnectionsPerIp: 0,
      maxTopics: 100,
      maxWildcards: 64,
      headerTimeout: 10,
    })
  })

  it('keeps the LLM routes closed to the network unless keys are given or --no-auth says so', () => {
    expect(() => parseGatewayConfig({ host: '0.0.0.0' })).toThrow(/--api-key/)
    expect(parseGatewayConfig({ host: '0.0.0.0', apiKey: 'k1,k2' }).apiKey).toEqual(['k1', 'k2'])
    expect(parseGatewayConfig({ host: '0.0.0.0', apiKey: ['k1', 'k2,k3'] }).apiKey).toEqual([
      'k1',
      'k2',
      'k3',
    ])
    // A passphrase is not split into its words, each of which would then be a key: it is refused.
    expect(() => parseGatewayConfig({ host: '0.0.0.0', apiKey: 'correct horse,battery staple' })).toThrow(
      /--api-key: a key cannot hold white space/,
    )
    expect(parseGatewayConfig({ host: '0.0.0.0', auth: false }).auth).toBe(false)
    expect(parseGatewayConfig({ host: '::1' }).host).toBe('::1')
    expect(() => parseGatewayConfig({ upstream: 'ftp://x' })).toThrow(/--upstream: expected an http/)
    expect(parseGatewayConfig({ resumeGrace: '2m' }).resumeGrace).toBe(120)
  })

  it('accepts flag and environment strings', () => {
    const config = parseGatewayConfig({
      port: '9000',
      heartbeat: '2.5',
      corsOrigin: 'https://a.example,https://b.example',
      subscriberBuffer: '1MiB',
    })
    expect(config).toMatchObject({
      port: 9000,
      heartbeat: 2.5,
      corsOrigin: ['https://a.example', 'https://b.example'],
      subscriberBuffer: 1024 * 1024,
    })
    expect(
      parseGatewayConfig({ corsOrigin: ['https://a.example', 'https://c.example'] }).corsOrigin,
    ).toHaveLength(2)
    expect(parseGatewayConfig({ subscriberBuffer: '64k' }).subscriberBuffer).toBe(65_536)
    expect(parseGatewayConfig({ historyMaxAge: '30m', anonymous: false }).historyMaxAge).toBe(1800)
    expect(parseGatewayConfig({ anonymous: 'false' }).anonymous).toBe(false)
  })

  it.each([
    [{ port: 'abc' }, /--port/],
    [{ port: '70000' }, /--port/],
    [{ heartbeat: '0' }, /--heartbeat/],
    [{ subscriberBuffer: 'lots' }, /--subscriber-buffer: expected a size/],
    [{ logLevel: 'loud' }, /--log-level/],
    [{ tlsCert: 'cert.pem' }, /--tls-cert and --tls-key go together/],
    [{ bogus: 1 }, /bogus/],
    [{ store: 'postgres://x' }, /--store: expected sqlite:<file>, memory or redis/],
    [{ historyMaxAge: 'forever' }, /--history-max-age/],
  ])('refuses %j with a message naming the setting', (input, message) => {
    expect(() => parseGatewayConfig(input)).toThrow(ConfigError)
    expect(() => parseGatewayConfig(input)).toThrow(message)
  })
})
