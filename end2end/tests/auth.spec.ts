import { expect, PASSWORD, signInViaApi, test, uniqueEmail } from './support/fixtures';

test.describe('accounts', () => {
  test('register, log out and log back in', async ({ page, registerPage, loginPage, header, chatPage }) => {
    const email = uniqueEmail('register');

    await registerPage.goto();
    await header.expectSignedOut();
    await registerPage.register(email, PASSWORD);

    // Signed in straight away, on the chat, which asks for an API key first.
    await header.expectSignedInAs(email);
    await expect(chatPage.keyRequiredHeading).toBeVisible();
    await expect(chatPage.setUpKeyLink).toHaveAttribute('href', '/settings');
    await expect(page).toHaveURL(/\/chat$/);

    await header.logOut();
    await expect(page).toHaveURL(/\/login$/);
    await header.expectSignedOut();

    await loginPage.waitForHydration();
    await loginPage.logIn(email, PASSWORD);
    await header.expectSignedInAs(email);
    await expect(chatPage.keyRequiredHeading).toBeVisible();
    await expect(page).toHaveURL(/\/chat$/);
  });

  test('a protected page sends an anonymous visitor to log in, and back', async ({
    page,
    request,
    newAccount,
    loginPage,
    header,
    settingsPage,
  }) => {
    const { email, password } = await newAccount();

    // The server itself redirects (no flash of the page, and before any WASM).
    const anonymous = await request.get('/settings', { maxRedirects: 0 });
    expect(anonymous.status()).toBe(303);
    expect(anonymous.headers()['location']).toBe('/login?next=/settings');

    await page.goto('/settings');
    await expect(page).toHaveURL(/\/login\?next=(\/|%2F)settings$/);
    await loginPage.expectLoaded();
    await header.expectSignedOut();

    await loginPage.waitForHydration();
    await loginPage.logIn(email, password);
    await expect(settingsPage.heading).toBeVisible();
    await expect(settingsPage.account).toContainText(email);
    await header.expectSignedInAs(email);
    await expect(page).toHaveURL(/\/settings$/);
  });

  test('a signed-in person sees their pages, and logging out ends the session', async ({
    page,
    newAccount,
    header,
    chatPage,
    settingsPage,
    loginPage,
  }) => {
    const account = await newAccount();
    await signInViaApi(page.request, account);

    await page.goto('/chat');
    await header.expectSignedInAs(account.email);
    await expect(chatPage.keyRequiredHeading).toBeVisible();
    await expect(header.settingsLink).toHaveAccessibleName('Settings (API key needed)');

    await page.goto('/settings');
    await expect(settingsPage.heading).toBeVisible();
    await expect(settingsPage.account).toContainText(account.email);

    await header.logOut();
    await expect(page).toHaveURL(/\/login$/);
    await loginPage.expectLoaded();
    await header.expectSignedOut();

    await page.goto('/chat');
    await expect(page).toHaveURL(/\/login\?next=(\/|%2F)chat$/);
  });

  test('a wrong password is refused', async ({ page, newAccount, loginPage, header }) => {
    const { email } = await newAccount();

    await loginPage.goto();
    // The empty alert is hidden until there is something to say.
    await expect(loginPage.error).toBeHidden();
    await loginPage.logIn(email, 'not the password');

    await expect(loginPage.error).toHaveText('Email or password is incorrect.');
    await expect(page).toHaveURL(/\/login(\?.*)?$/);
    await header.expectSignedOut();

    // Really not signed in: a protected page still sends us to log in.
    await page.goto('/settings');
    await expect(page).toHaveURL(/\/login\?next=(\/|%2F)settings$/);
  });

  test('the login page loads no WASM and keeps the email after a refusal', async ({
    page,
    newAccount,
    loginPage,
    header,
  }) => {
    const { email, password } = await newAccount();
    const wasm: string[] = [];
    page.on('request', (r) => {
      if (r.url().endsWith('.wasm')) wasm.push(r.url());
    });

    await loginPage.goto({ next: '/settings' });
    await loginPage.logIn(email, 'not the password');
    await expect(loginPage.error).toHaveText('Email or password is incorrect.');
    // What was typed is still there but the password; the cursor waits in the password.
    await expect(loginPage.email).toHaveValue(email);
    await expect(loginPage.password).toHaveValue('');
    await expect(loginPage.password).toBeFocused();
    await expect(loginPage.submit).toBeEnabled();
    expect(wasm).toEqual([]);

    await loginPage.password.fill(password);
    await loginPage.submit.press('Enter');
    await expect(page).toHaveURL(/\/settings$/);
    await header.expectSignedInAs(email);
    // The signed-in page loads the app.
    await expect.poll(() => wasm.length).toBeGreaterThan(0);
  });
});

test('the password toggle works once the page has hydrated', async ({ page, loginPage }) => {
  // Straight after the server's HTML: the toggle is inert until the WASM has loaded.
  await loginPage.goto({ hydrated: false });
  await loginPage.password.fill('s3cret-typed-early');
  await expect(loginPage.password).toHaveAttribute('type', 'password');
  await expect(loginPage.passwordToggle.button).toHaveText('Show');
  await expect(loginPage.passwordToggle.button).toHaveAttribute('aria-pressed', 'false');

  // Click until the WASM answers (a click before hydration does nothing).
  await expect(async () => {
    if ((await loginPage.password.getAttribute('type')) === 'password') {
      await loginPage.passwordToggle.button.click();
    }
    await expect(loginPage.password).toHaveAttribute('type', 'text', { timeout: 250 });
  }).toPass({ timeout: 20_000, intervals: [100, 250, 500] });

  await expect(loginPage.passwordToggle.button).toHaveText('Hide');
  await expect(loginPage.passwordToggle.button).toHaveAttribute('aria-pressed', 'true');
  // What was typed before hydration survives it.
  await expect(loginPage.password).toHaveValue('s3cret-typed-early');

  await loginPage.passwordToggle.button.click();
  await expect(loginPage.password).toHaveAttribute('type', 'password');
  await expect(loginPage.passwordToggle.button).toHaveText('Show');
  await expect(page).toHaveURL(/\/login$/);
});

test('an unknown address shows the not-found page', async ({ page }) => {
  const response = await page.goto('/no-such-page-e2e');
  expect(response?.status()).toBe(404);
  await expect(page.getByRole('heading', { level: 1, name: 'Page not found', exact: true })).toBeVisible();
  await expect(page).toHaveTitle(/^Page not found/);
  await expect(page.getByRole('main').getByRole('link', { name: 'Go to chat', exact: true })).toHaveAttribute(
    'href',
    '/chat',
  );
});
