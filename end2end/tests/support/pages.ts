import { expect, type Locator, type Page } from '@playwright/test';

/**
 * Page objects. Locators are by role and accessible name only (what a person and a
 * screen reader see), never by CSS path, so they survive markup and styling changes.
 */

/** The site header: navigation, the signed-in email, Log out. */
export class AppHeader {
  readonly root: Locator;
  readonly nav: Locator;
  readonly chatLink: Locator;
  readonly settingsLink: Locator;
  readonly logOutButton: Locator;
  readonly logInLink: Locator;
  readonly registerLink: Locator;

  constructor(readonly page: Page) {
    this.root = page.getByRole('banner');
    this.nav = this.root.getByRole('navigation', { name: 'Main' });
    this.chatLink = this.nav.getByRole('link', { name: 'Chat', exact: true });
    // The link's name gains " (API key needed)" while the account has no usable key.
    this.settingsLink = this.nav.getByRole('link', { name: /^Settings\b/ });
    this.logOutButton = this.nav.getByRole('button', { name: 'Log out', exact: true });
    this.logInLink = this.nav.getByRole('link', { name: 'Log in', exact: true });
    this.registerLink = this.nav.getByRole('link', { name: 'Register', exact: true });
  }

  /** The signed-in email as the header shows it. */
  email(email: string): Locator {
    return this.nav.getByText(email, { exact: true });
  }

  async expectSignedInAs(email: string): Promise<void> {
    await expect(this.email(email)).toBeVisible();
    await expect(this.logOutButton).toBeVisible();
    await expect(this.logInLink).toHaveCount(0);
  }

  async expectSignedOut(): Promise<void> {
    await expect(this.logInLink).toBeVisible();
    await expect(this.registerLink).toBeVisible();
    await expect(this.logOutButton).toHaveCount(0);
  }

  async logOut(): Promise<void> {
    await this.logOutButton.click();
  }
}

/** The password input's Show/Hide button, and the hydration check built on it. */
export class PasswordToggle {
  readonly button: Locator;

  constructor(readonly page: Page, readonly input: Locator) {
    this.button = page.getByRole('button', { name: /^(Show|Hide)$/ });
  }

  /**
   * Waits until the WASM has hydrated the page. Before that the Show button is inert (a
   * plain `type=button`), after it a click flips the field; so click until it does, then
   * flip it back. Leaves the field as it found it: hidden.
   */
  async waitForHydration(timeout = 20_000): Promise<void> {
    await expect(this.button).toHaveText('Show');
    await expect(async () => {
      if ((await this.button.textContent())?.trim() === 'Show') {
        await this.button.click();
      }
      await expect(this.button).toHaveText('Hide', { timeout: 250 });
    }).toPass({ timeout, intervals: [100, 250, 500] });
    await this.button.click();
    await expect(this.button).toHaveText('Show');
    await expect(this.input).toHaveAttribute('type', 'password');
  }
}

interface GotoOptions {
  /** The `next` query parameter: where to land after success. */
  next?: string;
  /** Wait for the WASM to hydrate before returning (default true). */
  hydrated?: boolean;
}

abstract class CredentialsPage {
  readonly heading: Locator;
  readonly email: Locator;
  readonly password: Locator;
  readonly submit: Locator;
  readonly error: Locator;
  readonly passwordToggle: PasswordToggle;

  protected constructor(
    readonly page: Page,
    readonly path: string,
    headingName: string,
    submitName: string,
  ) {
    this.heading = page.getByRole('heading', { level: 1, name: headingName, exact: true });
    this.email = page.getByLabel('Email', { exact: true });
    this.password = page.getByLabel('Password', { exact: true });
    this.submit = page.getByRole('button', { name: submitName, exact: true });
    this.error = page.getByRole('main').getByRole('alert');
    this.passwordToggle = new PasswordToggle(page, this.password);
  }

  async goto({ next, hydrated = true }: GotoOptions = {}): Promise<void> {
    const query = next === undefined ? '' : `?next=${encodeURIComponent(next)}`;
    await this.page.goto(`${this.path}${query}`);
    await this.expectLoaded();
    if (hydrated) await this.waitForHydration();
  }

  async expectLoaded(): Promise<void> {
    await expect(this.heading).toBeVisible();
  }

  async waitForHydration(): Promise<void> {
    await this.passwordToggle.waitForHydration();
  }

  async fill(email: string, password: string): Promise<void> {
    await this.email.fill(email);
    await this.password.fill(password);
  }
}

export class LoginPage extends CredentialsPage {
  constructor(page: Page) {
    super(page, '/login', 'Log in', 'Log in');
  }

  async logIn(email: string, password: string): Promise<void> {
    await this.fill(email, password);
    await this.submit.click();
  }
}

export class RegisterPage extends CredentialsPage {
  constructor(page: Page) {
    super(page, '/register', 'Create your account', 'Create account');
  }

  async register(email: string, password: string): Promise<void> {
    await this.fill(email, password);
    await this.submit.click();
  }
}

/** `/chat` for an account without an API key. */
export class ChatPage {
  readonly keyRequiredHeading: Locator;
  readonly setUpKeyLink: Locator;

  constructor(readonly page: Page) {
    this.keyRequiredHeading = page.getByRole('heading', { name: 'API Key Required', exact: true });
    this.setUpKeyLink = page.getByRole('link', { name: 'Set Up API Key', exact: true });
  }
}

export class SettingsPage {
  readonly heading: Locator;
  readonly account: Locator;

  constructor(readonly page: Page) {
    this.heading = page.getByRole('heading', { level: 1, name: 'Settings', exact: true });
    this.account = page.getByRole('region', { name: 'Account', exact: true });
  }
}
