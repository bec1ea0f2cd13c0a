/**
 * The page's styles, in cascade order: JupyterLab's light theme variables (every colour of the
 * views comes from them), Lumino's and JupyterLab's own widget styles (dock panel, tabs, data
 * grid, dialogs, rendered Markdown), the extension's styles, then the page's own.
 */
import '@jupyterlab/theme-light-extension/style/variables.css';
import '@lumino/widgets/style/index.css';
import '@jupyterlab/ui-components/style/styling.css';
import '@jupyterlab/ui-components/style/icons.css';
import '@jupyterlab/ui-components/style/tabbar.css';
import '@jupyterlab/ui-components/style/toolbar.css';
import '@jupyterlab/ui-components/style/spinner.css';
import '@jupyterlab/application/style/base.css';
import '@jupyterlab/apputils/style/base.css';
import '@jupyterlab/rendermime/style/base.css';
import '../../style/index.js';
import '../../style/standalone.css';
