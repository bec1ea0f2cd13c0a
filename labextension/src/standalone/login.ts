/**
 * The sign-in form of the web page: one token field. Built from DOM nodes with text content
 * only (no HTML strings), and no React, so the page's first script stays small.
 */

function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className: string,
  text?: string
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.className = className;
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

/**
 * Show the form in ``host``; ``signIn`` gets the token typed and throws an Error whose message
 * the form shows (the token stays in the field to correct). Resolves once signed in.
 */
export function showSignIn(
  host: HTMLElement,
  notice: string | null,
  signIn: (token: string) => Promise<void>
): void {
  const page = element('main', 'jp-mlops-login');
  const form = element('form', 'jp-mlops-login-form');
  form.noValidate = true;
  const title = element('h1', 'jp-mlops-login-title', 'jupyter_mlops');
  const intro = element(
    'p',
    'jp-mlops-login-intro',
    'Experiments, runs, pipelines and models of this tracking server. ' +
      'Sign in with the token an admin gave you ' +
      '(jupyter mlops users add NAME --role viewer prints one).'
  );
  const label = element('label', 'jp-mlops-login-label', 'Token');
  const input = element('input', 'jp-mlops-login-token');
  input.type = 'password';
  input.name = 'token';
  input.autocomplete = 'off';
  input.spellcheck = false;
  input.placeholder = 'mlops_…';
  label.appendChild(input);
  const submit = element('button', 'jp-mlops-button jp-mlops-login-submit');
  submit.type = 'submit';
  submit.textContent = 'Sign in';
  const error = element('div', 'jp-mlops-error jp-mlops-login-error');
  error.setAttribute('role', 'alert');
  error.textContent = notice ?? '';
  const privacy = element(
    'p',
    'jp-mlops-muted',
    'The token is kept in this tab only, until you sign out or close it.'
  );
  form.append(title, intro, label, submit, error, privacy);
  page.appendChild(form);
  host.appendChild(page);
  input.focus();

  form.addEventListener('submit', event => {
    event.preventDefault();
    const token = input.value.trim();
    if (!token) {
      error.textContent = 'Type or paste your token.';
      return;
    }
    submit.disabled = true;
    error.textContent = '';
    signIn(token)
      .then(() => page.remove())
      .catch((reason: Error) => {
        error.textContent = reason.message;
        submit.disabled = false;
        input.select();
      });
  });
}
