import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

export const DEMO_DEFAULT_ROWS = 200_000;
const DAY_MS = 86_400_000;

const DOMAINS = [
  'example.com',
  'mail.example.org',
  'newsletter.shop',
  'bank-secure-login.info',
  'team.internal',
  'promo-deals.biz',
  'university.edu',
  'free-gift.win',
];
const SUBJECT_WORDS = [
  'invoice',
  'meeting',
  'urgent',
  'password',
  'reset',
  'weekly',
  'report',
  'winner',
  'verify',
  'account',
  'lunch',
  'offer',
  'refund',
  'update',
  'security',
];
const BODY_WORDS = [
  'please',
  'click',
  'the',
  'link',
  'below',
  'to',
  'confirm',
  'your',
  'details',
  'thanks',
  'regards',
  'attached',
  'schedule',
  'wire',
  'transfer',
  'gift',
  'card',
  'today',
];

/** mulberry32: a small seeded PRNG, so the demo data is the same on every machine. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One demo email as the seeders insert it. */
export interface DemoEmailRow {
  id: number;
  sender: string;
  subject: string;
  body: string;
  linkCount: number;
  receivedAt: string;
}

/**
 * The demo's emails, the same on every machine and in both stores: received over the 120 days
 * before `now`, older ids earlier, as in a real mailbox.
 */
export function* demoEmails(rows: number, now: number): Generator<DemoEmailRow> {
  const random = prng(20_261_122);
  const pick = <T>(list: readonly T[]) => list[Math.floor(random() * list.length)]!;
  for (let id = 1; id <= rows; id++) {
    const subject = `${pick(SUBJECT_WORDS)} ${pick(SUBJECT_WORDS)} #${id}`;
    const words = 8 + Math.floor(random() * 24);
    let body = '';
    for (let w = 0; w < words; w++) body += `${pick(BODY_WORDS)} `;
    const receivedAt = new Date(now - 120 * DAY_MS + Math.floor(((id - 1) / rows) * 120 * DAY_MS)).toISOString();
    yield {
      id,
      sender: `user${Math.floor(random() * 5000)}@${pick(DOMAINS)}`,
      subject,
      body: body.trim(),
      linkCount: Math.floor(random() * 6),
      receivedAt,
    };
  }
}

export interface SeedResult {
  rows: number;
  created: boolean;
  seededAt: string;
}

/**
 * Creates the demo's `emails` table in the store's SQLite file on first use: `rows` deterministic
 * emails whose `risk_score` is NULL, received over the 120 days before the seeding instant (kept in
 * `demo_meta`, so that `--since 7d` selects a meaningful slice). An existing table is kept.
 */
export function seedDemo(path: string, rows: number, now = Date.now()): SeedResult {
  mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('busy_timeout = 5000');
    const exists = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'emails'").get();
    if (exists) {
      const count = (db.prepare('SELECT COUNT(*) AS n FROM emails').get() as { n: number }).n;
      const meta = db.prepare("SELECT value FROM demo_meta WHERE key = 'seeded_at'").get() as { value: string } | undefined;
      return { rows: count, created: false, seededAt: meta?.value ?? '' };
    }
    const seededAt = new Date(now).toISOString();
    db.transaction(() => {
      db.exec(`CREATE TABLE emails (
        id INTEGER PRIMARY KEY, sender TEXT NOT NULL, subject TEXT NOT NULL, body TEXT NOT NULL,
        link_count INTEGER NOT NULL, received_at TEXT NOT NULL, risk_score REAL, score_writes INTEGER NOT NULL DEFAULT 0)`);
      db.exec('CREATE INDEX emails_received_at ON emails (received_at)');
      db.exec('CREATE TABLE demo_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)');
      const insert = db.prepare('INSERT INTO emails (id, sender, subject, body, link_count, received_at) VALUES (?, ?, ?, ?, ?, ?)');
      for (const e of demoEmails(rows, now)) insert.run(e.id, e.sender, e.subject, e.body, e.linkCount, e.receivedAt);
      db.prepare('INSERT INTO demo_meta (key, value) VALUES (?, ?), (?, ?)').run('seeded_at', seededAt, 'rows', String(rows));
    }).immediate();
    return { rows, created: true, seededAt };
  } finally {
    db.close();
  }
}

/** Coverage after a run: how many emails have a score, and whether any was written twice. */
export function demoCoverage(path: string): { scored: number; total: number; percent: number; minWrites: number; maxWrites: number } {
  const db = new Database(path, { readonly: true });
  try {
    const row = db
      .prepare(`SELECT COUNT(*) AS total, COUNT(risk_score) AS scored,
        COALESCE(MIN(score_writes), 0) AS minWrites, COALESCE(MAX(score_writes), 0) AS maxWrites FROM emails`)
      .get() as {
      total: number;
      scored: number;
      minWrites: number;
      maxWrites: number;
    };
    return { ...row, percent: row.total === 0 ? 100 : (row.scored / row.total) * 100 };
  } finally {
    db.close();
  }
}
