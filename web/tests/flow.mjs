// The sign-in journey in real headless Chromium (Debian's, driven by playwright-core), with
// axe-core run on every page (WCAG 2.2 A and AA rules) and a screenshot of every page kept.
//
// Environment: TESSERA_URL (http://localhost:PORT), BOOTSTRAP_LINK, OUTBOX (the server's mail
// outbox directory), ARTIFACTS (where screenshots and the report go), CHROMIUM (executable).
// Writes ARTIFACTS/secrets.json: every secret the journey saw (passwords, links, TOTP keys,
// recovery codes, cookies), so the caller can check that none of them reached the server's log.
import { chromium } from 'playwright-core';
import { createHmac } from 'node:crypto';
import { readFileSync, readdirSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const BASE = process.env.TESSERA_URL;
const OUTBOX = process.env.OUTBOX;
const ARTIFACTS = process.env.ARTIFACTS;
const BOOTSTRAP = process.env.BOOTSTRAP_LINK;
// The access journey: a valid hip primary row (column -> value), two organisations, and the
// address the administrator invited as second operator.
const ENTRY = JSON.parse(process.env.ENTRY_ROW || '{}');
const ORG_A = process.env.ORG_A;
const ORG_B = process.env.ORG_B;
const OSCAR = process.env.OSCAR;
mkdirSync(ARTIFACTS, { recursive: true });
const axeSource = readFileSync(join(here, '../node_modules/axe-core/axe.min.js'), 'utf8');

const secrets = { passwords: [], links: [BOOTSTRAP], totp: [], recovery: [], cookies: [] };
const problems = [];
let shot = 0;

// --- helpers ---------------------------------------------------------------------------------

function base32Decode(s) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of s.replace(/=+$/, '').toUpperCase()) bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  const bytes = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(bytes);
}

// RFC 6238 with SHA-1, 6 digits, 30 s steps. `ahead` steps into the future: the server accepts
// one step of drift, and a code of a later step is new even if this step's code was just used.
function totp(secret, ahead = 0) {
  const step = Math.floor(Date.now() / 1000 / 30) + ahead;
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(step));
  const h = createHmac('sha1', base32Decode(secret)).update(msg).digest();
  const o = h[h.length - 1] & 0xf;
  const n = ((h[o] & 0x7f) << 24) | (h[o + 1] << 16) | (h[o + 2] << 8) | h[o + 3];
  return String(n % 1000000).padStart(6, '0');
}

function emailLinkTo(address) {
  const files = readdirSync(OUTBOX).map((f) => join(OUTBOX, f)).sort((a, b) => statSync(a).mtimeMs - statSync(b).mtimeMs);
  for (const f of files.reverse()) {
    const raw = readFileSync(f, 'utf8');
    if (!raw.toLowerCase().includes(address)) continue;
    let body = raw.split(/\r?\n\r?\n/).slice(1).join('\n\n');
    if (/Content-Transfer-Encoding: base64/i.test(raw)) body = Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
    if (/Content-Transfer-Encoding: quoted-printable/i.test(raw)) body = body.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, h) => String.fromCharCode(parseInt(h, 16)));
    const m = body.match(/https?:\/\/\S+/g);
    if (m) return m[m.length - 1];
  }
  throw new Error(`no email with a link to ${address}`);
}

async function check(page, name) {
  shot += 1;
  const file = join(ARTIFACTS, `${String(shot).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  // Runtime.evaluate is not subject to the page's CSP, which stays enforced for the page itself.
  await page.evaluate(axeSource);
  const result = await page.evaluate(() =>
    window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] } }),
  );
  for (const v of result.violations) {
    problems.push(`${name}: axe ${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  }
  console.log(`page ${shot} ${name}: ${result.violations.length} axe violations, ${result.passes.length} rules passed`);
}

const watched = [];
function watch(page, who) {
  watched.push([page, who]);
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const text = m.text();
    // The NHS.UK stylesheet names its Frutiger web fonts on assets.nhs.uk; our CSP (font-src
    // 'self') refuses them and the pages fall back to Arial. Anything else is a failure.
    if (/Content Security Policy/.test(text) && /assets\.nhs\.uk/.test(text)) return;
    // Refusals the journey provokes on purpose (a wrong code, a record of another organisation).
    if (/Failed to load resource.*(401|403|404|422|410)/.test(text)) return;
    problems.push(`${who}: console error: ${text}`);
  });
  page.on('pageerror', (e) => problems.push(`${who}: script error: ${e.message}`));
}

async function expectHeading(page, text) {
  const h1 = (await page.locator('h1').first().textContent()).trim();
  if (!h1.includes(text)) throw new Error(`expected heading "${text}", got "${h1}" at ${page.url()}`);
}

async function enrolTotp(page, label) {
  await expectHeading(page, 'Set up a second way to sign in');
  await check(page, `${label}-security-setup`);
  await page.click('#choose-totp');
  await expectHeading(page, 'Set up your authenticator app');
  await check(page, `${label}-totp-setup`);
  const secret = (await page.locator('#totp-secret').textContent()).trim();
  secrets.totp.push(secret);
  await page.fill('#code', totp(secret));
  await page.click('#confirm-totp');
  await expectHeading(page, 'Your recovery codes');
  await check(page, `${label}-recovery-codes-intro`);
  await page.click('#make-recovery-codes');
  const codes = await page.locator('#recovery-codes code').allTextContents();
  if (codes.length !== 10) throw new Error(`expected 10 recovery codes, got ${codes.length}`);
  secrets.recovery.push(...codes);
  await check(page, `${label}-recovery-codes`);
  await page.click('#codes-done');
  return secret;
}

async function saveCookies(context) {
  for (const c of await context.cookies()) secrets.cookies.push(c.value);
}

// --- the journey -------------------------------------------------------------------------------

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
});

try {
  // 1. Bootstrap: the first operator sets their password and enrols TOTP.
  const opContext = await browser.newContext();
  const op = await opContext.newPage();
  watch(op, 'operator');
  await op.goto(BOOTSTRAP);
  await expectHeading(op, 'Set up the first operator account');
  await check(op, 'bootstrap');
  const opPassword = 'harbour lantern quietly 73';
  secrets.passwords.push(opPassword);
  await op.fill('#name', 'Olivia Operator');
  await op.fill('#email', 'olivia@ops.example');
  await op.fill('#password', opPassword);
  await op.fill('#confirmation', opPassword);
  await op.click('#set-password');
  await enrolTotp(op, 'operator');
  await expectHeading(op, 'Welcome, Olivia Operator');
  await check(op, 'operator-home');

  // 2. The operator invites a person.
  await op.goto(`${BASE}/admin/invitations`);
  await expectHeading(op, 'Invite people');
  await check(op, 'invitations');
  await op.fill('#name', 'Sam Surgeon');
  await op.fill('#email', 'sam.surgeon@trust.example');
  await op.click('#send-invitation');
  await op.locator('text=The invitation has been sent').waitFor();
  await check(op, 'invitation-sent');
  await op.goto(`${BASE}/admin/users`);
  await check(op, 'accounts');
  await saveCookies(opContext);

  // 3. The invited person accepts in their own browser: a common password is refused with the
  //    reason, then a good one is accepted and TOTP is enrolled before anything else.
  const link = emailLinkTo('sam.surgeon@trust.example');
  secrets.links.push(link);
  const samContext = await browser.newContext();
  const sam = await samContext.newPage();
  watch(sam, 'sam');
  await sam.goto(link);
  await expectHeading(sam, 'Create your Tessera account');
  await check(sam, 'invitation-accept');
  const common = 'password1234';
  await sam.fill('#password', common);
  await sam.fill('#confirmation', common);
  await sam.click('#set-password');
  const reason = await sam.locator('.nhsuk-error-summary').textContent();
  if (!/most commonly used passwords/.test(reason)) throw new Error(`common password not refused with its reason: ${reason}`);
  await check(sam, 'common-password-refused');
  const samPassword = 'velvet orchard bicycle 58';
  secrets.passwords.push(samPassword, common);
  await sam.fill('#password', samPassword);
  await sam.fill('#confirmation', samPassword);
  await sam.click('#set-password');
  await sam.goto(`${BASE}/account`);
  await expectHeading(sam, 'Set up a second way to sign in'); // nothing else is reachable yet
  const samSecret = await enrolTotp(sam, 'sam');
  await expectHeading(sam, 'Welcome, Sam Surgeon');
  await sam.goto(`${BASE}/account`);
  await expectHeading(sam, 'Your account');
  await check(sam, 'account');

  // 4. Sign out, then sign in with password and TOTP.
  await sam.click('#sign-out');
  await expectHeading(sam, 'Sign in to Tessera');
  await check(sam, 'signed-out');
  await sam.fill('#email', 'sam.surgeon@trust.example');
  await sam.fill('#password', samPassword);
  await sam.click('#sign-in');
  await expectHeading(sam, 'Check it is you');
  await check(sam, 'verify-totp');
  await sam.fill('#code', totp(samSecret, 1));
  await sam.click('#verify-code');
  await expectHeading(sam, 'Welcome, Sam Surgeon');
  await check(sam, 'signed-in-with-totp');

  // 5. A passkey, with a virtual authenticator: enrol it, sign out, sign in with it alone.
  const cdp = await samContext.newCDPSession(sam);
  await cdp.send('WebAuthn.enable');
  await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', ctap2Version: 'ctap2_1', transport: 'internal', hasResidentKey: true,
      hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
  });
  await sam.goto(`${BASE}/account/security/setup`);
  await sam.fill('#passkey-label', 'Work laptop');
  await sam.click('#passkey-register');
  await sam.waitForURL(`${BASE}/account`);
  await expectHeading(sam, 'Your account');
  if (!(await sam.locator('text=Passkey: Work laptop').count())) throw new Error('the passkey is not listed');
  await check(sam, 'passkey-added');
  await saveCookies(samContext);
  await sam.click('#sign-out');
  await expectHeading(sam, 'Sign in to Tessera');
  await sam.click('#passkey-sign-in');
  await sam.waitForURL(`${BASE}/`);
  await expectHeading(sam, 'Welcome, Sam Surgeon');
  await check(sam, 'signed-in-with-passkey');
  await saveCookies(samContext);

  // 6. Least privilege. Sam asks for access; nobody can grant it yet, because the registry has
  //    no controller. Carol asks to be its first controller, which two platform operators must
  //    approve: Olivia, and Oscar, whom the service's administrator invited on the command line.
  await sam.goto(`${BASE}/access`);
  await expectHeading(sam, 'Your access');
  await sam.selectOption('#registry', 'njr');
  await sam.selectOption('#role', 'submitter');
  await sam.fill('#organisation', ORG_A);
  await sam.fill('#justification', 'I enter hip and knee operations for our trust.');
  await sam.click('#request-access');
  await sam.locator('#requests >> text=Waiting for a decision').first().waitFor();
  await check(sam, 'access-requested');
  // Before any grant, Sam reaches no record page.
  const early = await sam.goto(`${BASE}/registries/njr/records/new?form=hip_primary`);
  if (early.status() !== 404) throw new Error(`records reachable before any grant: ${early.status()}`);

  async function newMember(name, email, label) {
    await op.goto(`${BASE}/admin/invitations`);
    await op.fill('#name', name);
    await op.fill('#email', email);
    await op.click('#send-invitation');
    await op.locator('text=The invitation has been sent').waitFor();
    return acceptInvitation(email, label);
  }
  async function acceptInvitation(email, label) {
    const link = emailLinkTo(email);
    secrets.links.push(link);
    const context = await browser.newContext();
    const page = await context.newPage();
    watch(page, label);
    await page.goto(link);
    const password = `copper meadow lantern ${secrets.passwords.length + 2961}`;
    secrets.passwords.push(password);
    await page.fill('#password', password);
    await page.fill('#confirmation', password);
    await page.click('#set-password');
    await enrolTotp(page, label);
    await saveCookies(context);
    return page;
  }
  async function requestAccess(page, role, org, why) {
    await page.goto(`${BASE}/access`);
    await page.selectOption('#registry', 'njr');
    await page.selectOption('#role', role);
    await page.fill('#organisation', org);
    await page.fill('#justification', why);
    await page.click('#request-access');
    await page.locator('#requests >> text=Waiting for a decision').first().waitFor();
  }
  async function approve(page, path, who, label) {
    await page.goto(`${BASE}${path}`);
    const card = page.locator('.nhsuk-card', { hasText: who });
    await card.first().waitFor();
    await check(page, label);
    await card.locator('input[name=reason]').fill('Known to us; role confirmed with the clinical lead.');
    await card.locator('button[value=approve]').click();
    await page.waitForLoadState();
  }

  const carol = await newMember('Carol Controller', 'carol.controller@trust.example', 'carol');
  await requestAccess(carol, 'controller', '', 'Clinical lead and data controller of the joint registry.');
  const oscar = await acceptInvitation(OSCAR, 'oscar');
  await approve(op, '/platform/access', 'Carol Controller', 'first-controller-pending');
  // One operator's approval is not enough for a controller.
  const half = await carol.goto(`${BASE}/registries/njr/access`);
  if (half.status() !== 404) throw new Error(`a controller after one approval: ${half.status()}`);
  await approve(oscar, '/platform/access', 'Carol Controller', 'first-controller-second-approval');
  await carol.goto(`${BASE}/registries/njr/access`);
  await expectHeading(carol, 'Access to the njr registry');

  // 7. The controller approves Sam; Sam enters a record, sees the validation errors (every
  //    problem listed, each linked to its field), corrects them and saves.
  await approve(carol, '/registries/njr/access', 'Sam Surgeon', 'controller-approves');
  await sam.goto(`${BASE}/access`);
  await sam.locator('#grants >> text=njr').first().waitFor();
  await check(sam, 'access-granted');
  await sam.goto(`${BASE}/registries/njr/records/new?form=hip_primary`);
  await check(sam, 'record-form');
  async function fillRow(page, row, skip) {
    for (const [column, value] of Object.entries(row)) {
      if (skip.includes(column) || value === '') continue;
      for (const id of [`p_${column}`, `f_${column}`, column]) {
        const radios = page.locator(`input[type=radio][name="${id}"]`);
        if (await radios.count()) {
          const v = { yes: 'true', no: 'false' }[value];
          let choice = radios.locator(`xpath=self::*[@value="${value}"]`);
          if (!(await choice.count()) && v) choice = radios.locator(`xpath=self::*[@value="${v}"]`);
          await choice.first().check();
          break;
        }
        const el = page.locator(`[id="${id}"]`);
        if (!(await el.count())) continue;
        const tag = await el.evaluate((e) => e.tagName);
        if (tag === 'SELECT') await el.selectOption(value);
        else await el.fill(value);
        break;
      }
    }
  }
  await fillRow(sam, ENTRY, ['hp_side', 'hp_asa_grade']);
  await sam.fill('#f_hp_bmi', '250');
  await sam.click('#save-record');
  const summary = sam.locator('.nhsuk-error-summary');
  await summary.waitFor();
  const listed = await summary.locator('li a').count();
  if (listed < 3) throw new Error(`expected every problem listed (side, ASA grade, BMI), got ${listed}`);
  await check(sam, 'record-validation-errors');
  await fillRow(sam, ENTRY, []);
  await sam.fill('#f_hp_bmi', ENTRY.hp_bmi || '28.4');
  await sam.click('#save-record');
  // The saved record shows the patient as held, an identifiable read: Sam is asked why first,
  // and the question shows nothing of the patient.
  await expectHeading(sam, 'Why are you opening this?');
  if (await sam.locator('.nhsuk-error-summary').count()) throw new Error('the corrected record was refused');
  if (await sam.locator(`text=${ENTRY.family_name}`).count()) throw new Error('the purpose question shows the patient');
  await check(sam, 'record-purpose');
  await sam.locator('input[type=radio][name=purpose][value=direct_care]').check();
  await sam.click('#continue-purpose');
  await sam.locator(`text=${ENTRY.family_name}`).first().waitFor();
  await check(sam, 'record-saved');
  const recordUrl = sam.url().split('?')[0];

  // 7b. Ordinary navigation asks once: Sam finds the patient with a purpose, opens the record
  //     from the results and corrects it, and the purpose is carried along without asking again.
  await sam.goto(`${BASE}/registries/njr/records/search`);
  await sam.fill('#p_nhs_number', ENTRY.nhs_number);
  await sam.locator('input[type=radio][name=purpose][value=recall_safety]').check();
  await sam.fill('#purpose_detail', 'Implant review clinic');
  await sam.click('#search');
  await sam.locator('#records a').first().click();
  await sam.locator('#patient').waitFor();
  if (!(await sam.locator(`text=${ENTRY.family_name}`).count())) throw new Error('the record from the search shows no patient');
  await check(sam, 'record-from-search');
  await sam.click('#correct');
  await expectHeading(sam, 'Correct:');
  await check(sam, 'record-correct');
  await sam.fill('#reason', 'Checked against the theatre record');
  await sam.click('#save-record');
  await sam.locator('#notice').waitFor();
  if (!(await sam.locator('#patient').count())) throw new Error('the corrected record asked for a purpose again');
  if (!sam.url().includes('purpose=recall_safety')) throw new Error(`the purpose was not carried on: ${sam.url()}`);
  await check(sam, 'record-corrected');

  // 7c. A recall, and the scan that meets it. Carol, the registry's controller, opens a recall of
  //     one lot of a femoral stem; Sam then scans a unit of that lot into his record as a theatre
  //     scanner types it (symbology identifier, then the elements, a group separator, ASCII 29,
  //     ending the variable-length serial) and is warned as soon as it is recorded.
  const RECALL_GTIN = '05012345001005';
  const RECALL_LOT = 'A2603X7';
  await carol.goto(`${BASE}/recalls/new`);
  await expectHeading(carol, 'Start a recall');
  await check(carol, 'recall-new');
  await carol.fill('#reference', 'MDA/2026/014');
  await carol.fill('#title', 'Taper stem: fracture of the neck');
  await carol.fill('#manufacturer', 'Aldgate Orthopaedics');
  await carol.fill('#gtins', RECALL_GTIN);
  await carol.fill('#lots', RECALL_LOT);
  await carol.click('#create-recall');
  await expectHeading(carol, 'Taper stem: fracture of the neck');
  await check(carol, 'recall-dashboard');
  // Sam is still on his corrected record, which offers the way to record its components.
  await sam.click('#add-components');
  await expectHeading(sam, 'Implanted components');
  await check(sam, 'components');
  await sam.locator('#scan').pressSequentially(`]d201${RECALL_GTIN}21SN7731\u001d10${RECALL_LOT}`);
  await sam.click('#save-scan');
  await sam.locator('#recall-warning').waitFor();
  const warning = await sam.locator('#recall-warning').innerText();
  if (!warning.includes('MDA/2026/014')) throw new Error(`the recall warning does not name the recall: ${warning}`);
  if (!(await sam.locator('#components').innerText()).includes(RECALL_LOT)) throw new Error('the scanned unit was not recorded');
  await check(sam, 'components-recall-warning');

  // 8. A submitter of another organisation cannot find it: the search says no match, and the
  //    record's own address is "not found".
  const dan = await newMember('Dan Datamanager', 'dan.datamanager@other.example', 'dan');
  await requestAccess(dan, 'submitter', ORG_B, 'Data manager at our hospital.');
  await approve(carol, '/registries/njr/access', 'Dan Datamanager', 'controller-approves-second');
  await dan.goto(`${BASE}/registries/njr/records/search`);
  await dan.fill('#p_nhs_number', ENTRY.nhs_number);
  if (await dan.locator('input[type=radio][name=purpose]').count()) {
    await dan.locator('input[type=radio][name=purpose][value=direct_care]').check();
  } else {
    await dan.selectOption('#purpose', 'direct_care');
  }
  await dan.click('#search');
  await dan.locator('#no-match').waitFor();
  if (await dan.locator(`text=${ENTRY.family_name}`).count()) throw new Error('another organisation sees the patient');
  await check(dan, 'other-organisation-no-match');
  const other = await dan.goto(recordUrl);
  if (other.status() !== 404) throw new Error(`another organisation's record answered ${other.status()}`);

  // 9. Outcome statistics, which a controller may read: the registry's page, a Kaplan–Meier
  // chart and the funnel plot, each chart an SVG that must load and draw.
  async function chartLoaded(page) {
    const img = page.locator('img.tessera-chart').first();
    await img.waitFor();
    const ok = await img.evaluate((el) => el.complete && el.naturalWidth > 0);
    if (!ok) throw new Error(`the chart did not load at ${page.url()}`);
  }
  await carol.goto(`${BASE}/`);
  await carol.click('text=Outcomes of the National Joint Registry');
  await expectHeading(carol, 'Outcomes: njr');
  if (!(await carol.locator('text=Dunmore Crescent MoM Cup').count())) throw new Error('the outlier table is missing');
  await check(carol, 'outcomes');
  await carol.click('text=Hip: acetabular cup brand');
  await expectHeading(carol, 'Hip: acetabular cup brand');
  await chartLoaded(carol);
  await check(carol, 'outcomes-km-chart');
  await carol.goto(`${BASE}/registries/njr/outcomes`);
  await carol.click('text=Observed ÷ expected revisions by organisation (funnel plot)');
  await expectHeading(carol, 'observed ÷ expected revisions');
  await chartLoaded(carol);
  await check(carol, 'outcomes-funnel-chart');

  // 9b. The audit trail. Carol, a controller, opens the registry's log from her home page and
  // filters it to record events: Sam's entry and views are there, by pseudonymous reference only.
  // Sam reads his own recent sign-ins from his account page.
  await carol.goto(`${BASE}/`);
  await carol.click('text=Audit log of the National Joint Registry');
  await expectHeading(carol, 'Audit log');
  await carol.fill('#action', 'record');
  await carol.click('#apply');
  await expectHeading(carol, 'Audit log');
  const log = await carol.locator('main').innerText();
  if (!/record\.view/.test(log)) throw new Error('the audit log does not show the record views');
  if (log.includes(ENTRY.nhs_number) || log.includes(ENTRY.family_name)) throw new Error('the audit log shows the patient');
  await check(carol, 'audit-log-filtered');
  await sam.goto(`${BASE}/account`);
  await sam.click('#sign-ins');
  await expectHeading(sam, 'Your recent sign-ins');
  await sam.locator('#sign-ins').waitFor();
  await check(sam, 'own-sign-ins');

  // 10. Sign out for good: the session is gone on the server.
  await sam.click('#sign-out');
  await expectHeading(sam, 'Sign in to Tessera');
  await sam.goto(`${BASE}/account`);
  await expectHeading(sam, 'Sign in to Tessera');
  await check(sam, 'after-sign-out');
} catch (e) {
  problems.push(`journey failed: ${e.stack || e}`);
  // Where each person was when it failed: a screenshot and the page's main text.
  for (const [page, who] of watched) {
    try {
      await page.screenshot({ path: join(ARTIFACTS, `failure-${who}.png`), fullPage: true });
      const text = (await page.locator('main').first().innerText()).slice(0, 1500);
      problems.push(`${who} was at ${page.url()}:\n${text}`);
    } catch (_) { /* the page may be closed */ }
  }
} finally {
  await browser.close();
  writeFileSync(join(ARTIFACTS, 'secrets.json'), JSON.stringify(secrets, null, 2));
  writeFileSync(join(ARTIFACTS, 'report.txt'), problems.join('\n') + '\n');
}

if (problems.length) {
  console.error(problems.join('\n'));
  process.exit(1);
}
console.log(`browser journey passed: ${shot} pages, 0 axe violations; screenshots in ${ARTIFACTS}`);
