# One image for the web process and every worker (the web process never imports torch).

# The browser UI (frontend/): TypeScript built by Vite into static files.
FROM node:20-slim AS frontend
WORKDIR /frontend
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci
COPY frontend/ ./
RUN npm run build

FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# libldap/libsasl headers and gcc build python-ldap (django-auth-ldap: hospital directory login).
RUN apt-get update && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 gcc libldap2-dev libsasl2-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements/ requirements/
RUN pip install --no-cache-dir -r requirements/base.txt -r requirements/ml.txt -c requirements/lock.txt
COPY . .
COPY --from=frontend /frontend/dist/ frontend/dist/
RUN useradd --create-home enllasd && mkdir -p /data/media /data/model_store /app/var && chown -R enllasd /data /app/var
USER enllasd
EXPOSE 8000
