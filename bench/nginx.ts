// The anchor: nginx with one worker and sendfile, serving the same files from disk.
import { spawn } from 'node:child_process'
import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { freePort, killGroup, onCleanup, waitForHttp, within } from './proc.ts'

export interface Nginx {
  url: string
  /** The master's pid; the worker is its child, in the same process group. */
  pid: number
  config: string
  stop: () => Promise<void>
}

export interface NginxOptions {
  binary: string
  /** `nginx -V` output: which modules (and so which temp path directives) exist. */
  configure: string
  /** Folder served at `/`. */
  root: string
  /** Temp prefix: config, pid file, logs, temp paths. */
  prefix: string
  /** Pin master and worker to this CPU (through taskset) when given. */
  cpu?: { taskset: string, list: string }
  /** Accept WebDAV `PUT` of files under the root (http_dav_module): the anchor of the S3 PutObject benchmark. */
  dav?: boolean
}

export function nginxConfig (options: { port: number, root: string, prefix: string, configure: string, asRoot: boolean, dav?: boolean }): string {
  const temp = (name: string): string => path.join(options.prefix, 'temp', name)
  const tempPaths = [`client_body_temp_path ${temp('client_body')};`]
  for (const [module, directive] of [['proxy', 'proxy_temp_path'], ['fastcgi', 'fastcgi_temp_path'], ['uwsgi', 'uwsgi_temp_path'], ['scgi', 'scgi_temp_path']]) {
    if (!options.configure.includes(`--without-http_${module}_module`)) tempPaths.push(`${directive} ${temp(module)};`)
  }
  return [
    `# written by bench/nginx.ts: the anchor of the ${options.dav === true ? 'S3 benchmarks (WebDAV PUT, GET)' : 'gateway benchmarks'}`,
    ...(options.asRoot ? ['user root;'] : []),
    'worker_processes 1;',
    'daemon off;',
    `pid ${path.join(options.prefix, 'nginx.pid')};`,
    `error_log ${path.join(options.prefix, 'error.log')} warn;`,
    'events { worker_connections 1024; }',
    'http {',
    '  access_log off;',
    '  sendfile on;',
    '  tcp_nopush on;',
    '  keepalive_requests 1000000;',
    '  keepalive_timeout 75s;',
    ...tempPaths.map(line => `  ${line}`),
    '  types { image/png png; image/jpeg jpg; video/mp4 mp4; }',
    '  default_type application/octet-stream;',
    '  server {',
    `    listen 127.0.0.1:${options.port};`,
    `    root ${options.root};`,
    ...(options.dav === true
      // PUT writes the body to a temp file under client_body_temp_path (same file system) and renames it into place
      ? ['    location / {', '      dav_methods PUT;', '      create_full_put_path on;', '      dav_access user:rw group:r all:r;', '      client_max_body_size 0;', '    }']
      : ['    location / { }']),
    '  }',
    '}',
    ''
  ].join('\n')
}

export async function startNginx (options: NginxOptions): Promise<Nginx> {
  await mkdir(path.join(options.prefix, 'temp'), { recursive: true })
  const port = await freePort()
  if (options.dav === true && !options.configure.includes('--with-http_dav_module')) throw new Error('this nginx has no http_dav_module (WebDAV PUT): install nginx-light or nginx')
  const config = nginxConfig({ port, root: options.root, prefix: options.prefix, configure: options.configure, asRoot: process.getuid?.() === 0, dav: options.dav })
  const configFile = path.join(options.prefix, 'nginx.conf')
  await writeFile(configFile, config)
  const args = ['-p', options.prefix, '-c', configFile, '-e', path.join(options.prefix, 'error.log')]
  const [command, argv] = options.cpu != null
    ? [options.cpu.taskset, ['-c', options.cpu.list, options.binary, ...args]]
    : [options.binary, args]
  // its own process group, so master and worker can be stopped together whatever happens
  const child = spawn(command, argv, { stdio: ['ignore', 'ignore', 'pipe'], detached: true })
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const exited = new Promise<void>(resolve => { child.once('close', () => { resolve() }) })
  const pid = child.pid
  if (pid == null) throw new Error(`nginx did not start: ${stderr}`)
  const alive = (): boolean => child.exitCode == null && child.signalCode == null
  let stopped: Promise<void> | undefined
  const stop = async (): Promise<void> => {
    stopped ??= (async () => {
      if (alive()) killGroup(pid, 'SIGTERM')
      if (!(await within(exited, 5000)).done) {
        killGroup(pid, 'SIGKILL')
        await exited
      }
      killGroup(pid, 'SIGKILL') // a worker that outlived its master
      unregister()
    })()
    await stopped
  }
  const unregister = onCleanup(`nginx (pid ${pid})`, stop)
  const url = `http://127.0.0.1:${port}`
  try {
    await waitForHttp(`${url}/`, 10_000, alive)
  } catch (err) {
    await stop()
    throw new Error(`nginx did not start: ${(err as Error).message}\n${stderr}`)
  }
  return { url, pid, config, stop }
}
