import type { Command } from 'commander';
import { NotFoundError, UsageError } from '../../index.js';
import { createToken, TOKEN_SCOPES, type TokenScope } from '../../server.js';
import { withContext } from './shared.js';

export function registerTokenCommands(program: Command): void {
  const token = program.command('token').description('API tokens for `sluice serve`: create, list, revoke');

  token
    .command('create')
    .description('create a token and print it once (only its hash is stored)')
    .requiredOption('--scope <scope>', 'read (GET only), write (start and steer runs) or admin (also tokens and cancel by key)')
    .option('--name <name>', 'what the token is for (default: the scope and your name)')
    .action(async (options: { scope: string; name?: string }, command: Command) => {
      if (!(TOKEN_SCOPES as readonly string[]).includes(options.scope))
        throw new UsageError(`--scope must be read, write or admin, got "${options.scope}"`);
      await withContext(command, { needsConfig: false, createStore: true }, async (ctx) => {
        const { token: secret, record } = await createToken(ctx.sluice.store, {
          name: options.name ?? `${options.scope} for ${ctx.actor}`,
          scope: options.scope as TokenScope,
          createdBy: ctx.actor,
        });
        if (ctx.json) process.stdout.write(`${JSON.stringify({ token: secret, id: record.id, name: record.name, scope: record.scope })}\n`);
        else process.stdout.write(`${secret}\n`);
        if (!ctx.json)
          process.stderr.write(
            `token ${record.id} (${record.scope}) created; it is shown only now. Send it as "Authorization: Bearer <token>" or "X-API-Key: <token>".\n`,
          );
        return 0;
      });
    });

  token
    .command('list')
    .description('tokens: id, name, scope, who created them, revoked or not (never the secrets)')
    .action(async (_options: object, command: Command) => {
      await withContext(command, { needsConfig: false }, async (ctx) => {
        const tokens = (await ctx.sluice.store.listTokens()).map(({ hash: _hash, ...rest }) => rest);
        if (ctx.json) process.stdout.write(`${JSON.stringify(tokens, null, 2)}\n`);
        else
          process.stdout.write(
            tokens.length === 0
              ? 'no tokens\n'
              : `${tokens.map((t) => `${t.id}  ${t.scope.padEnd(5)}  ${t.name}  by ${t.createdBy} at ${t.createdAt}${t.revokedAt ? `  REVOKED ${t.revokedAt}` : ''}`).join('\n')}\n`,
          );
        return 0;
      });
    });

  token
    .command('revoke <id>')
    .description('revoke a token at once')
    .action(async (id: string, _options: object, command: Command) => {
      await withContext(command, { needsConfig: false }, async (ctx) => {
        if (!(await ctx.sluice.store.revokeToken(id)))
          throw new NotFoundError(`no live token "${id}"`, { hint: '`sluice token list` shows the tokens' });
        process.stdout.write(ctx.json ? `${JSON.stringify({ revoked: id })}\n` : `token ${id} revoked\n`);
        return 0;
      });
    });
}
