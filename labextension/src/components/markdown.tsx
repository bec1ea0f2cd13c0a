/**
 * Markdown from the store (model cards, run notes) drawn by JupyterLab's own markdown renderer
 * in untrusted mode: its HTML goes through the sanitizer and no script runs. Never innerHTML.
 */
import { IRenderMimeRegistry, MimeModel } from '@jupyterlab/rendermime';
import { Widget } from '@lumino/widgets';
import * as React from 'react';

import { useServices } from './services';

export function Markdown(props: {
  source: string;
  className?: string;
}): JSX.Element {
  const { rendermime } = useServices();
  const host = React.useRef<HTMLDivElement>(null);
  // A layout effect: its cleanup runs while the host is still in the page (a widget detaches
  // from a node in the document, or throws).
  React.useLayoutEffect(() => {
    if (!host.current) {
      return;
    }
    const renderer = renderMarkdown(rendermime, props.source);
    Widget.attach(renderer, host.current);
    return () => renderer.dispose();
  }, [props.source, rendermime]);
  return (
    <div ref={host} className={`jp-mlops-markdown ${props.className ?? ''}`} />
  );
}

export function renderMarkdown(
  rendermime: IRenderMimeRegistry,
  source: string
): Widget {
  const renderer = rendermime.createRenderer('text/markdown');
  renderer
    .renderModel(
      new MimeModel({ data: { 'text/markdown': source }, trusted: false })
    )
    .then(() => {
      // Links open beside the Lab, never in its place.
      renderer.node.querySelectorAll('a[href]').forEach(a => {
        a.setAttribute('target', '_blank');
        a.setAttribute('rel', 'noopener noreferrer');
      });
    })
    .catch(error => {
      renderer.node.textContent = `cannot render: ${error}`;
    });
  return renderer;
}

/** Hosts a Lumino widget (a notebook snapshot, a renderer) inside a React view. */
export function LuminoHost(props: {
  make: () => Widget;
  deps: React.DependencyList;
  className?: string;
}): JSX.Element {
  const host = React.useRef<HTMLDivElement>(null);
  React.useLayoutEffect(() => {
    if (!host.current) {
      return;
    }
    const widget = props.make();
    Widget.attach(widget, host.current);
    return () => widget.dispose();
  }, props.deps);
  return <div ref={host} className={props.className} />;
}
