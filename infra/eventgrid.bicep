// Second deployment, run by deploy.sh after the code is published: Event Grid delivers
// BlobCreated events of the enrollment container and of the redaction input container to their
// Event Grid blob triggers (the only blob trigger Flex Consumption supports). It is separate from main.bicep because Event Grid validates
// the webhook when the subscription is created, and the blobs_extension system key in the URL
// exists only once the host has loaded the blob-triggered function.
// The key is read here with listKeys, so it never passes through the shell or a parameter.

targetScope = 'resourceGroup'

param functionAppName string
param storageAccountName string
param enrollmentContainerName string
param deadLetterContainerName string

@description('Name of the Event Grid blob-triggered function (its Python function name).')
param blobFunctionName string = 'enroll_blob'

@description('Blob container watched for batch redaction (shared/redaction/batch.py INPUT).')
param redactionContainerName string = 'redaction-input'

@description('Name of the batch redaction blob-triggered function.')
param redactionFunctionName string = 'redact_blob'

param location string = resourceGroup().location
param tags object = {}

var storageBlobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'

resource site 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName

  resource host 'host' existing = {
    name: 'default'
  }
}

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName

  resource blobService 'blobServices' existing = {
    name: 'default'

    resource deadLetter 'containers' existing = {
      name: deadLetterContainerName
    }
  }
}

// One system topic per storage account; its identity writes undeliverable events to the
// dead-letter container (shared keys are off, so dead-lettering must use an identity).
resource topic 'Microsoft.EventGrid/systemTopics@2022-06-15' = {
  name: '${storageAccountName}-events'
  location: location
  tags: tags
  identity: { type: 'SystemAssigned' }
  properties: {
    source: account.id
    topicType: 'Microsoft.Storage.StorageAccounts'
  }
}

resource deadLetterWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: account::blobService::deadLetter
  name: guid(account::blobService::deadLetter.id, topic.id, storageBlobDataContributor)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
    principalId: topic.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

// One subscription per blob-triggered function: the webhook names the function.
var subscriptions = [
  { name: 'enrollment-blob-created', functionName: blobFunctionName, container: enrollmentContainerName }
  { name: 'redaction-blob-created', functionName: redactionFunctionName, container: redactionContainerName }
]

resource blobCreated 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = [
  for subscription in subscriptions: {
    parent: topic
    name: subscription.name
    dependsOn: [deadLetterWriter]
    properties: {
      eventDeliverySchema: 'EventGridSchema'
      destination: {
        endpointType: 'WebHook'
        properties: {
          endpointUrl: 'https://${site.properties.defaultHostName}/runtime/webhooks/blobs?functionName=Host.Functions.${subscription.functionName}&code=${site::host.listKeys().systemKeys.blobs_extension}'
        }
      }
      filter: {
        includedEventTypes: ['Microsoft.Storage.BlobCreated']
        subjectBeginsWith: '/blobServices/default/containers/${subscription.container}/'
      }
      retryPolicy: {
        maxDeliveryAttempts: 30
        eventTimeToLiveInMinutes: 1440
      }
      deadLetterWithResourceIdentity: {
        identity: { type: 'SystemAssigned' }
        deadLetterDestination: {
          endpointType: 'StorageBlob'
          properties: {
            resourceId: account.id
            blobContainerName: deadLetterContainerName
          }
        }
      }
    }
  }
]
