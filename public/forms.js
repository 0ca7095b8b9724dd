// The login and registration pages ship no WASM: their forms post to the server, which
// answers with the next page or with the form again and its error. These lines add what
// the app's Rust does on its other pages: the password's Show/Hide toggle and "Logging
// in…" while the post is on its way. Without them the forms work all the same.
(() => {
  for (const field of document.querySelectorAll('.password-field')) {
    const input = field.querySelector('input');
    const toggle = field.querySelector('button.toggle');
    if (!input || !toggle) continue;
    toggle.addEventListener('click', () => {
      const show = input.type === 'password';
      input.type = show ? 'text' : 'password';
      toggle.textContent = show ? 'Hide' : 'Show';
      toggle.setAttribute('aria-pressed', String(show));
    });
  }
  const buttons = [];
  for (const form of document.querySelectorAll('form[data-pending]')) {
    const button = form.querySelector('button[type=submit]');
    if (!button) continue;
    buttons.push([button, button.textContent]);
    form.addEventListener('submit', () => {
      // After the browser has taken the form's fields: a disabled button cannot post twice.
      setTimeout(() => {
        button.disabled = true;
        button.setAttribute('aria-busy', 'true');
        button.textContent = form.dataset.pending;
      });
    });
  }
  // Back to this page from the next one (the browser's page cache): ready again.
  addEventListener('pageshow', (event) => {
    if (!event.persisted) return;
    for (const [button, text] of buttons) {
      button.disabled = false;
      button.setAttribute('aria-busy', 'false');
      button.textContent = text;
    }
  });
  // The page answers from here on: the mark tests and the page-weight script wait for.
  document.documentElement.setAttribute('data-hydrated', performance.now().toFixed(0));
})();
