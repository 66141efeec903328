import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs'
import { createConnection, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

const MODULE = '/usr/lib/nginx/modules/ngx_nchan_module.so'

/**
 * nginx with the nchan module (Debian's nginx-light and libnginx-mod-nchan), installed here when
 * missing and running as root. Returns false, with the reason printed, when it cannot be had.
 */
export function ensureNchan(): boolean {
  if (existsSync('/usr/sbin/nginx') && existsSync(MODULE)) return true
  if (process.getuid?.() !== 0) {
    console.log('nchan: not installed and not root; skipped (apt-get install nginx-light libnginx-mod-nchan)')
    return false
  }
  try {
    execFileSync('apt-get', ['update', '-q'], { stdio: 'ignore' })
    execFileSync('apt-get', ['install', '-y', '-q', 'nginx-light', 'libnginx-mod-nchan'], {
      stdio: 'ignore',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    })
    return existsSync(MODULE)
  } catch (error) {
    console.log(`nchan: installation failed (${(error as Error).message}); skipped`)
    return false
  }
}

/** One nginx process (master_process off) serving /events (EventSource) and /publish for one channel. */
export async function startNchan(): Promise<{ child: ChildProcess; port: number }> {
  const port = await freePort()
  const directory = mkdtempSync(join(tmpdir(), 'streamgate-nchan-'))
  const config = join(directory, 'nginx.conf')
  writeFileSync(
    config,
    `load_module ${MODULE};
master_process off;
daemon off;
worker_rlimit_nofile 65536;
pid ${directory}/nginx.pid;
error_log ${directory}/error.log warn;
events { worker_connections 65536; }
http {
  access_log off;
  client_body_temp_path ${directory};
  server {
    listen 127.0.0.1:${port};
    location = /events { nchan_subscriber eventsource; nchan_channel_id bench; }
    location = /publish { nchan_publisher; nchan_channel_id bench; nchan_message_buffer_length 16; }
  }
}
`,
  )
  const child = spawn('/usr/sbin/nginx', ['-c', config, '-p', directory], {
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  for (let attempt = 0; attempt < 100; attempt++) {
    if (await canConnect(port)) return { child, port }
    await sleep(50)
  }
  child.kill('SIGKILL')
  throw new Error('nginx did not start')
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection(port, '127.0.0.1')
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}
