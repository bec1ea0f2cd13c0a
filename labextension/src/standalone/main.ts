/**
 * The web page of ``jupyter mlops server`` (at ``/``): JupyterLab's MLOps navigator and views
 * for people without JupyterLab. This first script only signs the user in: it checks the token
 * (``whoami``), keeps it in the tab's sessionStorage, and then loads the views in a chunk of
 * their own, with the token in the page config so that every API request carries it.
 */
import './style';

import { PageConfig } from '@jupyterlab/coreutils';

import { showSignIn } from './login';
import { IWhoAmI, whoAmI } from './whoami';

declare let __webpack_public_path__: string;

const TOKEN_KEY = 'jupyter-mlops:token';
const NOTICE_KEY = 'jupyter-mlops:sign-in-notice';

/** The server's base URL: the bundle's files are served under ``<base>ui/``. */
const BASE_URL = new URL('..', __webpack_public_path__).href;

/** Forget the token; ``notice`` is shown on the sign-in form the reloaded page opens with. */
function signOut(notice?: string): void {
  window.sessionStorage.removeItem(TOKEN_KEY);
  if (notice) {
    window.sessionStorage.setItem(NOTICE_KEY, notice);
  }
  // A fresh page: nothing of the last user's views stays in memory.
  window.location.reload();
}

async function start(me: IWhoAmI, token: string): Promise<void> {
  PageConfig.setOption('token', token); // read by the API module when it loads, just below
  const { mountShell } = await import(
    /* webpackChunkName: "mlops-views" */ './shell'
  );
  mountShell(me, signOut);
}

function askForToken(notice: string | null): void {
  showSignIn(document.body, notice, async token => {
    const me = await whoAmI(BASE_URL, token);
    window.sessionStorage.setItem(TOKEN_KEY, token);
    await start(me, token);
  });
}

async function main(): Promise<void> {
  PageConfig.setOption('baseUrl', BASE_URL);
  const saved = window.sessionStorage.getItem(TOKEN_KEY);
  const notice = window.sessionStorage.getItem(NOTICE_KEY);
  window.sessionStorage.removeItem(NOTICE_KEY);
  if (!saved) {
    askForToken(notice);
    return;
  }
  try {
    await start(await whoAmI(BASE_URL, saved), saved);
  } catch (reason) {
    window.sessionStorage.removeItem(TOKEN_KEY);
    askForToken((reason as Error).message);
  }
}

void main();
