"""A private copy of the machine's file tree for the suites that install onto it
(tools/install, the Debian package): this process, and all it starts from then on,
moves into a mount namespace of its own where chosen directories are overlays whose
upper layers live in a work directory, and others are empty tmpfs. The namespace ends
with the process; the machine's own files are never changed."""
import ctypes
import os
import subprocess

CLONE_NEWNS = 0x00020000
# Apache's runtime directories: empty in the copy, so no apache2 of the machine's shows.
APACHE_RUNTIME = ["/run/apache2", "/run/lock/apache2", "/var/log/apache2"]


def enter(workdir, overlaid, emptied=APACHE_RUNTIME):
    """Returns {path: upper directory} for each overlaid path (what the copy changed).
    Raises with the reason if a mount namespace of our own cannot be had."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNS) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS): no mount namespace of our own")
    subprocess.run(["mount", "--make-rprivate", "/"], check=True, capture_output=True)
    uppers = {}
    for i, path in enumerate(overlaid):
        upper, work = os.path.join(workdir, f"upper{i}"), os.path.join(workdir, f"work{i}")
        os.makedirs(upper)
        os.makedirs(work)
        subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                        f"lowerdir={path},upperdir={upper},workdir={work}", path],
                       check=True, capture_output=True)
        uppers[path] = upper
    for path in emptied:
        # A runtime directory apache2ctl would make at its first start, if it is missing.
        os.makedirs(path, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", path],
                       check=True, capture_output=True)
    return uppers


def enable_guarded_site(site, site_file, docroot):
    """Debian's way, in the copy: a site guarded.test serving `docroot`, with the guard
    On once the module is loaded, enabled with a2ensite."""
    with open(site_file, "w") as f:
        f.write(f"""<VirtualHost *:80>
  ServerName guarded.test
  DocumentRoot {docroot}
  <Directory {docroot}>
    Require all granted
  </Directory>
  <IfModule xmlrpcguard_module>
    XmlRpcGuard On
  </IfModule>
</VirtualHost>
""")
    subprocess.run(["a2ensite", "-q", site], check=True)


def leave(overlaid, emptied=APACHE_RUNTIME):
    """Unmounts the copy's layers (in this namespace only)."""
    for path in reversed(list(overlaid) + list(emptied)):
        subprocess.run(["umount", "-l", path], capture_output=True)
