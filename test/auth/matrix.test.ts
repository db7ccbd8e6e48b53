import t from 'tap';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ACTIONS, ROLES, authorize, roleMatrixMarkdown, type Identity, type Role } from '../../src/auth/index.js';

const REPO = resolve(import.meta.dirname, '../..');
const id = (roles: Role[], grants: Identity['grants'] = []): Identity => ({ kind: 'token', name: 'x', roles, grants });

t.test('the full role matrix (every action × every role, the metrics token and no identity) is the one in docs/security.md', async (t) => {
  // Built independently of roleMatrixMarkdown: one authorize call per cell, printed for the log.
  const lines: string[] = [];
  for (const action of ACTIONS) {
    const cells = ROLES.map((r) => `${r}=${authorize(id([r]), action, { owner: 'x', breakGlassReason: 'r' }).allowed ? 'Y' : 'n'}`);
    cells.push(`none=${authorize(undefined, action).allowed ? 'Y' : 'n'}`);
    lines.push(`${action.padEnd(18)} ${cells.join(' ')}`);
  }
  t.comment('\n' + lines.join('\n'));

  const doc = readFileSync(resolve(REPO, 'docs/security.md'), 'utf8');
  const m = /<!-- role-matrix:start -->\n([\s\S]*?)\n<!-- role-matrix:end -->/.exec(doc);
  t.ok(m, 'docs/security.md has the role-matrix markers');
  const expected = roleMatrixMarkdown();
  t.equal(m![1], expected, 'docs/security.md role matrix matches the code; paste this table between the markers:\n' + expected);

  // The doc table's cells agree with direct authorize calls (not only with the generator).
  const rows = m![1]!.split('\n').slice(2);
  t.equal(rows.length, ACTIONS.length, 'one row per action');
  for (const row of rows) {
    const cells = row.split('|').slice(1, -1).map((c) => c.trim());
    const action = cells[0]!.replace(/`/g, '') as (typeof ACTIONS)[number];
    ROLES.forEach((role, i) => {
      const cell = cells[i + 1]!;
      const plain = authorize(id([role]), action, { owner: 'x', breakGlassReason: 'r' }).allowed;
      if (cell === 'yes') t.ok(plain, `${action} × ${role}`);
      else if (cell.startsWith('with ')) {
        t.notOk(plain, `${action} × ${role} needs a grant`);
        t.ok(authorize(id([role], [cell.slice(5) as 'break-glass']), action, { owner: 'x', breakGlassReason: 'r' }).allowed, `${action} × ${role} + ${cell}`);
      } else t.notOk(plain, `${action} × ${role} refused`);
    });
    t.equal(cells.at(-1), authorize(undefined, action).allowed ? 'yes' : '—', `${action} × no identity`);
  }
});
