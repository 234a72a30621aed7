/**
 * What every command does with the process it runs in, before it parses its
 * arguments: where relative paths start, and what a closed pipe means.
 */

/**
 * `npm run fdn -- add ./photo.png` runs in the package's root, not in the
 * directory the user typed it in; npm passes that one as INIT_CWD. Going back
 * there makes every relative path (the file to add, --data, FDN_DATA,
 * FDN_SWARM_KEY, swarm-key's file…) mean what it means to the `fdn` command.
 * Only under npm's `fdn` script of this package: INIT_CWD is inherited by
 * everything npm starts (tests, other packages' scripts), which keep their own
 * working directory.
 */
export function enterInvokingDirectory (env: NodeJS.ProcessEnv): void {
  const invoked = env.INIT_CWD
  if (invoked == null || invoked === '') return
  if (env.npm_lifecycle_event !== 'fdn' || env.npm_package_name !== 'fdn') return
  process.chdir(invoked)
}

/**
 * A reader that has read enough (`fdn status --json | head -c 10`) closes the
 * pipe, and the next write fails with EPIPE. That is the reader's choice, not
 * a failure of the command: end it quietly with 0 instead of an uncaught
 * error's stack. For stdout and stderr of every command, once.
 */
export function endQuietlyOnClosedPipe (): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.exit(0)
      throw err
    })
  }
}
