/**
 * The services every view takes (components/services.ts), made without JupyterLab: the
 * standard renderers with JupyterLab's sanitizer and a Markdown parser, set up untrusted as in
 * the lab (views/snapshot.ts); settings kept in memory for the tab; the light theme only; and
 * the same shared poll of the store's change cursor.
 */
import { Sanitizer } from '@jupyterlab/apputils';
import {
  IRenderMime,
  RenderMimeRegistry,
  standardRendererFactories
} from '@jupyterlab/rendermime';
import { marked } from 'marked';

import { IOpener } from '../commands';
import {
  ChangeFeed,
  IServices,
  SettingsSource,
  ThemeWatch
} from '../components/services';
import { untrustedRenderMime } from '../views/snapshot';

/** Markdown to HTML; the renderer sanitizes the HTML before it reaches the page. */
const markdownParser: IRenderMime.IMarkdownParser = {
  render: (source: string) => marked.parse(source, { async: true, gfm: true })
};

export function makeServices(open: IOpener): IServices {
  const settings = new SettingsSource();
  settings.save = async (key, value) =>
    settings.update({ ...settings.current, [key]: value });
  const registry = new RenderMimeRegistry({
    initialFactories: standardRendererFactories,
    sanitizer: new Sanitizer(),
    markdownParser
  });
  return {
    open,
    rendermime: untrustedRenderMime(registry),
    settings,
    theme: new ThemeWatch(),
    changes: new ChangeFeed(settings)
  };
}
