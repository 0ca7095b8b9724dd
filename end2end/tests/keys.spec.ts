import { expect, invalidApiKey, signInViaApi, test, validApiKey } from './support/fixtures';
import type { Page } from '@playwright/test';

/** The hint the app shows for a key: first 10 characters, `...`, last 4. */
function hintOf(key: string): string {
  return `${key.slice(0, 10)}...${key.slice(-4)}`;
}

/** The Settings → API Keys panel, by role and name. */
function panel(page: Page) {
  const region = page.getByRole('region', { name: 'API Keys', exact: true });
  return {
    region,
    keyField: page.getByLabel('Anthropic API key', { exact: true }),
    saveButton: region.getByRole('button', { name: /^(Save Key|Checking with Anthropic…)$/ }),
    testButton: region.getByRole('button', { name: /^(Test Key|Testing with Anthropic…)$/ }),
    removeButton: region.getByRole('button', { name: 'Remove Key', exact: true }),
    updateButton: region.getByRole('button', { name: 'Update Key', exact: true }),
    confirmRemove: region.getByRole('button', { name: 'Yes, remove my key', exact: true }),
    alert: region.getByRole('alert'),
    notice: region.getByRole('status'),
    show: region.getByRole('button', { name: /^(Show|Hide)$/ }),
  };
}

/** Opens Settings signed in as a fresh account, once the page has hydrated. */
async function openSettings(page: Page, newAccount: () => Promise<{ email: string; password: string }>) {
  const account = await newAccount();
  await signInViaApi(page.request, account);
  await page.goto('/settings');
  const p = panel(page);
  await expect(p.region.getByText('Not configured')).toBeVisible();
  // Hydrated once the Show toggle works.
  await expect(async () => {
    await p.show.click();
    await expect(p.show).toHaveText('Hide', { timeout: 250 });
  }).toPass({ timeout: 20_000 });
  await p.show.click();
  return { account, p };
}

async function saveKey(p: ReturnType<typeof panel>, key: string) {
  await p.keyField.fill(key);
  await p.saveButton.click();
}

// The stand-in is shared: tests that set faults or revoke keys run one at a time.
test.describe.configure({ mode: 'serial' });

test.beforeEach(async ({ stub }) => {
  await stub.reset();
});

test('a valid key is saved, shown only as its hint, and the field is cleared', async ({ page, newAccount, header }) => {
  const { p } = await openSettings(page, newAccount);
  await expect(header.settingsLink).toHaveAccessibleName(/API key needed/);
  const key = validApiKey();
  await saveKey(p, key);
  await expect(p.notice).toHaveText('Key saved. Anthropic accepted it.');
  await expect(p.region.getByText(`Configured (${hintOf(key)})`)).toBeVisible();
  await expect(p.region.getByText('Never used')).toBeVisible();
  await expect(p.keyField).toHaveValue('');
  await expect(page.getByText(key)).toHaveCount(0);
  await expect(header.settingsLink).not.toHaveAccessibleName(/API key needed/);
  // Still there after a reload, and the field is never pre-filled.
  await page.reload();
  await expect(p.region.getByText(`Configured (${hintOf(key)})`)).toBeVisible();
  await expect(p.keyField).toHaveValue('');
});

test('a key Anthropic refuses shows the error and saves nothing', async ({ page, newAccount }) => {
  const { p } = await openSettings(page, newAccount);
  await saveKey(p, invalidApiKey());
  await expect(p.alert).toContainText('Anthropic did not accept this key');
  await expect(p.region.getByText('Not configured')).toBeVisible();
  await saveKey(p, 'sk-ant-too-short');
  await expect(p.alert).toContainText("That isn't an Anthropic API key");
});

test('while Anthropic is unavailable the old key stays and the page says so', async ({ page, newAccount, stub }) => {
  const { p } = await openSettings(page, newAccount);
  const first = validApiKey();
  await saveKey(p, first);
  await expect(p.region.getByText(`Configured (${hintOf(first)})`)).toBeVisible();
  await stub.fault({ kind: 'status', status: 529, count: 1 });
  await saveKey(p, validApiKey());
  await expect(p.alert).toContainText('Anthropic is unavailable right now');
  await expect(p.region.getByText(`Configured (${hintOf(first)})`)).toBeVisible();
});

test('removing a key asks first, then clears it', async ({ page, newAccount }) => {
  const { p } = await openSettings(page, newAccount);
  await saveKey(p, validApiKey());
  await expect(p.removeButton).toBeVisible();
  await p.removeButton.click();
  await expect(p.region.getByRole('alertdialog')).toContainText('Remove your Anthropic key?');
  await p.confirmRemove.click();
  await expect(p.region.getByText('Not configured')).toBeVisible();
  await expect(p.removeButton).toHaveCount(0);
});

test('testing a key that was revoked shows that Anthropic refused it', async ({ page, newAccount, stub }) => {
  const { p } = await openSettings(page, newAccount);
  const key = validApiKey();
  await saveKey(p, key);
  await expect(p.testButton).toBeVisible();
  await p.testButton.click();
  await expect(p.notice).toHaveText('Anthropic accepted your key.');
  await stub.revoke(key);
  await p.testButton.click();
  await expect(p.region.getByText(`Refused by Anthropic (${hintOf(key)})`)).toBeVisible();
  await expect(p.notice).toContainText('Anthropic refused this key');
});

test.describe('without JavaScript', () => {
  test.use({ javaScriptEnabled: false });

  test('the key form still saves and shows errors', async ({ page, newAccount }) => {
    const account = await newAccount();
    await signInViaApi(page.request, account);
    await page.goto('/settings');
    const p = panel(page);
    await saveKey(p, invalidApiKey());
    await expect(p.alert).toContainText('Anthropic did not accept this key');
    const key = validApiKey();
    await saveKey(p, key);
    await expect(p.region.getByText(`Configured (${hintOf(key)})`)).toBeVisible();
  });
});
